/**
 * How the suite chooses WebGPU, with and without an adapter. "Without" is made by running the
 * child with DENO_WEBGPU_BACKEND=dx12, a graphics API Linux lacks, so Deno finds no adapter.
 */
import { assert } from "../_assert.ts";
import { findWebGpuAdapter } from "../../lib/backend.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const adapter = await findWebGpuAdapter();

async function deno(args: string[], noAdapter: boolean) {
  const r = await new Deno.Command("deno", {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...(noAdapter ? { DENO_WEBGPU_BACKEND: "dx12" } : {}) },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

const echo3 = (out: string, backend: string, series = 400) => [
  "run",
  "--allow-read",
  `--allow-write=${out}`,
  "experiments/echo3.ts",
  "--epochs",
  "1",
  "--series",
  String(series),
  "--backend",
  backend,
  "--out",
  out,
];

Deno.test({
  name: "without an adapter: --backend webgpu exits 2 in one line writing nothing, auto says why it skipped webgpu",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "echolab-webgpu-" });
    try {
      const forced = await deno(echo3(out, "webgpu"), true);
      assert.equal(forced.code, 2, forced.stderr);
      assert.match(forced.stderr, /^error: --backend webgpu could not be loaded: no WebGPU adapter .*\n$/);
      assert.deepEqual([...Deno.readDirSync(out)], [], "a failed backend wrote files");
      const auto = await deno(echo3(out, "auto"), true);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /^backend: wasm \(skipped .*webgpu: no WebGPU adapter;/m);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "without an adapter the WebGPU tests are ignored, with one line saying why",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await deno(["test", "-P", "tests/kernels/webgpu_test.ts"], true);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n").filter((l) => /webgpu tests skipped/.test(l));
    assert.deepEqual(lines, ["webgpu tests skipped: no WebGPU adapter"]);
    assert.match(r.stdout, /ok \| 0 passed \| 0 failed \| \d+ ignored/);
  },
});

Deno.test({
  name: "auto skips a software adapter, naming it; --backend webgpu uses it and says software",
  ignore: typeof adapter === "string" || !adapter.software,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "echolab-webgpu-" });
    try {
      const auto = await deno(echo3(out, "auto"), false);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /^backend: wasm \(skipped .*webgpu: software adapter .+ \(name --backend webgpu/m);
      const named = await deno(echo3(out, "webgpu"), false);
      assert.equal(named.code, 0, named.stderr);
      assert.match(named.stdout, /^backend: webgpu \(.+, software\)$/m);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "--kernel fused on webgpu past H 256 exits 2 in one line writing nothing; auto runs it op by op",
  ignore: typeof adapter === "string",
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "echolab-webgpu-" });
    try {
      const args = [...echo3(out, "webgpu", 40), "--hidden", "300"];
      const forced = await deno([...args, "--kernel", "fused"], false);
      assert.equal(forced.code, 2, forced.stderr);
      assert.equal(forced.stderr, "error: --kernel fused on webgpu takes --hidden up to 256, got 300\n");
      assert.deepEqual([...Deno.readDirSync(out)], [], "a refused run wrote files");
      const auto = await deno(args, false);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /^model: rnn 1x300/m);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
