/**
 * `deno task build:wasm`: compiles every AssemblyScript source in wasm/src/
 * (`wasm/src/<name>.ts`) and writes `lib/kernels/cpu/<name>_wasm.ts`.
 *
 * With `--check` it writes nothing and exits 1 when a generated file is not
 * what its source compiles to (tests/kernels/simd_test.ts runs it so).
 */
import { compileModule, generatedFile, wasmModules } from "./compile.ts";

const root = new URL("../", import.meta.url);
const check = Deno.args.includes("--check");
let stale = 0;
for (const mod of await wasmModules()) {
  const bytes = await compileModule(mod);
  const text = generatedFile(mod, bytes);
  const out = new URL(mod.out, root);
  if (check) {
    let committed = "";
    try {
      committed = await Deno.readTextFile(out);
    } catch {
      // missing: stale
    }
    // Compared as bytes: deno fmt may wrap the generated line.
    const base64 = /"([A-Za-z0-9+/=]*)"/.exec(committed)?.[1] ?? "";
    if (base64 !== /"([A-Za-z0-9+/=]*)"/.exec(text)![1]) {
      console.error(`${mod.out} is stale: run \`deno task build:wasm\``);
      stale++;
    } else {
      console.log(`${mod.out} is what wasm/src/${mod.source} compiles to (${bytes.length} bytes of wasm)`);
    }
  } else {
    await Deno.writeTextFile(out, text);
    console.log(`wrote ${mod.out} (${bytes.length} bytes of wasm)`);
  }
}
if (stale) Deno.exit(1);
