/**
 * The install stays lean and importing the suite has no side effects on the
 * console. Nothing is imported statically: the first test imports mod.ts
 * itself and watches what that does.
 */
import { assert } from "./_assert.ts";

const ROOT = new URL("../", import.meta.url);
const CORE_DIST = new URL("node_modules/@tensorflow/tfjs-core/dist/", ROOT);

Deno.test("importing mod.ts leaves console.warn untouched; quietTfjsWarnings() drops only tfjs's noise", async () => {
  const before = console.warn;
  const mod = await import("../mod.ts");
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

Deno.test("deno.json and deno.lock keep the umbrella tfjs and the AssemblyScript compiler out of `deno install`", () => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const lock = JSON.parse(Deno.readTextFileSync(new URL("deno.lock", ROOT)));
  const imports = Object.values(config.imports as Record<string, string>);
  for (const spec of imports) {
    assert.ok(!/^npm:(@tensorflow\/tfjs@|assemblyscript@)/.test(spec), `deno.json imports ${spec}`);
  }
  const locked = [...Object.keys(lock.specifiers ?? {}), ...Object.keys(lock.npm ?? {})];
  for (const name of ["@tensorflow/tfjs@", "@tensorflow/tfjs-layers@", "core-js@", "assemblyscript@", "binaryen@"]) {
    const hit = locked.find((s) => s.replace(/^npm:/, "").startsWith(name));
    assert.equal(hit, undefined, `deno.lock holds ${hit}: did \`deno task build:wasm\` run without --no-lock?`);
  }
});

Deno.test("lib/tfjs_registrations.js registers every gradient and chained op tfjs-core lists", async () => {
  const { tf } = await import("../lib/tf.ts");
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
