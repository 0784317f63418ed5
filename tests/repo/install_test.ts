/**
 * What `deno install` brings is one TensorFlow.js (one tfjs-core, everything
 * from the registry, nothing vendored), it registers everything the suite
 * differentiates, and importing the suite has no side effects on the
 * console. Nothing is imported statically: the first test imports mod.ts
 * itself and watches what that does.
 */
import { assert } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url);
const CORE_DIST = new URL("node_modules/@tensorflow/tfjs-core/dist/", ROOT);

Deno.test("importing mod.ts leaves console.warn untouched; quietTfjsWarnings() drops only tfjs's noise", async () => {
  const before = console.warn;
  const mod = await import("../../mod.ts");
  assert.equal(console.warn, before, "importing mod.ts replaced console.warn");

  const seen: unknown[][] = [];
  console.warn = (...args: unknown[]) => void seen.push(args);
  try {
    mod.quietTfjsWarnings();
    mod.quietTfjsWarnings(); // a second call changes nothing
    console.warn("\n============================\nHi, looks like you are running TensorFlow.js in Node.js. ...");
    console.warn("The kernel 'Add' for backend 'cpu' is already registered");
    console.warn("Platform node has already been set. Overwriting the platform with node.");
    console.warn("a warning of our own", 42);
    assert.deepEqual(seen, [["a warning of our own", 42]]);
  } finally {
    console.warn = before;
  }
});

Deno.test("deno.lock holds one tfjs-core, every @tensorflow package at its version, and no AssemblyScript compiler", () => {
  const lock = JSON.parse(Deno.readTextFileSync(new URL("deno.lock", ROOT)));
  const packages = Object.keys(lock.npm ?? {});
  // A second tfjs-core would be a second engine: backends registered on one are not seen by the other.
  const cores = packages.filter((p) => p.startsWith("@tensorflow/tfjs-core@"));
  assert.deepEqual(cores, ["@tensorflow/tfjs-core@4.22.0"], "tfjs-core versions in deno.lock");
  const others = packages.filter((p) => p.startsWith("@tensorflow/") && !/^@tensorflow\/[\w-]+@4\.22\.0(_|$)/.test(p));
  assert.deepEqual(others, [], "@tensorflow packages at another version than tfjs-core's");
  const locked = [...Object.keys(lock.specifiers ?? {}), ...packages];
  for (const name of ["assemblyscript@", "binaryen@"]) {
    const hit = locked.find((s) => s.replace(/^npm:/, "").startsWith(name));
    assert.equal(hit, undefined, `deno.lock holds ${hit}: did \`deno task build:wasm\` run without --no-lock?`);
  }
});

Deno.test("lib/tf.ts has every gradient and chained op tfjs-core lists registered (by the published @tensorflow/tfjs)", async () => {
  const { tf } = await import("../../lib/tf.ts");
  const grads = [
    ...Deno.readTextFileSync(new URL("register_all_gradients.js", CORE_DIST)).matchAll(/'\.\/gradients\/(\w+)_grad'/g),
  ].map((m) => m[1]);
  assert.ok(grads.length > 90, `found only ${grads.length} gradients in tfjs-core's list`);
  assert.deepEqual(grads.filter((kernel) => tf.getGradient(kernel) == null), [], "gradients not registered");

  const dir = new URL("public/chained_ops/", CORE_DIST);
  const methods = [...Deno.readDirSync(dir)]
    .filter((e) => e.name.endsWith(".js") && e.name !== "register_all_chained_ops.js")
    .flatMap((e) => [...Deno.readTextFileSync(new URL(e.name, dir)).matchAll(/prototype\.(\w+) = /g)].map((m) => m[1]));
  assert.ok(methods.length > 120, `found only ${methods.length} chained ops in tfjs-core`);
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  assert.deepEqual(methods.filter((m) => typeof proto[m] !== "function"), [], "chained ops not registered");
});

Deno.test("the repository vendors no TensorFlow.js source: its files carry no Google LLC copyright line", () => {
  const skip = new Set([".git", "node_modules", "results", ".gpu"]);
  const hits: string[] = [];
  const walk = (dir: URL, rel: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (skip.has(e.name)) continue;
      if (e.isDirectory) walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.isFile && /\.(js|mjs|cjs|ts)$/.test(e.name)) {
        if (/Copyright \d{4} Google LLC/.test(Deno.readTextFileSync(new URL(e.name, dir)))) hits.push(rel + e.name);
      }
    }
  };
  walk(ROOT, "");
  assert.deepEqual(hits, [], "TensorFlow.js comes from the registry at install time (lib/tf.ts), not from a copy");
});
