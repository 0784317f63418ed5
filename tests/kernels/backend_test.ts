/**
 * A missing or corrupt tfjs-backend-wasm binary: `auto` falls back to cpu and says why in its one
 * backend line; `--backend wasm` fails with one line. Each case runs in its own process, since a
 * failed wasm start leaves tfjs's registry in a state no other test should share.
 */
import { assert } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WASM = `${ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist`;

/** useBackend(name, { wasmDir }) in a fresh process: its stdout (the backend line) or its error. */
async function load(name: string, wasmDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const code = `import { describeBackend, useBackend } from "./lib/backend.ts";
    try { console.log(describeBackend(await useBackend(${JSON.stringify(name)}, { wasmDir: ${
    JSON.stringify(wasmDir)
  } }))); }
    catch (e) { console.log("error: " + e.message); }`;
  const r = await new Deno.Command("deno", { args: ["eval", "--quiet", code], cwd: ROOT, env: { NO_COLOR: "1" } })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout).trim(), stderr: dec.decode(r.stderr).trim() };
}

Deno.test("a missing or corrupt wasm binary: auto falls back to cpu and says why; forced wasm is one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echolab-wasm-" });
  try {
    const good = await load("auto", WASM);
    assert.match(good.stdout, /^backend: wasm\b/, "the real binary must load, or the cases below prove nothing");
    for (const file of Deno.readDirSync(WASM)) {
      if (file.name.endsWith(".wasm")) {
        Deno.writeFileSync(`${dir}/${file.name}`, Deno.readFileSync(`${WASM}/${file.name}`).slice(0, 1000));
      }
    }
    const empty = await Deno.makeTempDir({ dir, prefix: "missing-" });
    for (
      const [what, where, why] of [["corrupt", dir, /CompileError/], ["missing", empty, /ENOENT|No such file/]] as const
    ) {
      const auto = await load("auto", where);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /^backend: cpu \(skipped .*wasm: tfjs could not initialise the wasm backend \(/, what);
      assert.match(auto.stdout, why, what);
      assert.equal(auto.stdout.split("\n").length, 1, `${what}: ${auto.stdout}`);
      assert.equal(auto.stderr, "", `${what}: tfjs's own lines leaked:\n${auto.stderr}`);
      const forced = await load("wasm", where);
      assert.match(
        forced.stdout,
        /^error: --backend wasm could not be loaded: tfjs could not initialise the wasm backend/,
      );
      assert.equal(forced.stderr, "", `${what}: tfjs's own lines leaked:\n${forced.stderr}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
