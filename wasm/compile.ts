/**
 * Compiles the AssemblyScript kernels in `wasm/src/kernels.ts` to WebAssembly
 * with SIMD. Shared by the build task and the test that checks the committed
 * binary (`lib/kernels_wasm.ts`) is what the committed source compiles to.
 */
import asc from "assemblyscript/asc";

/** Compiler options: fixed, so that the same source gives the same bytes. */
export const ASC_OPTIONS = {
  optimizeLevel: 3,
  shrinkLevel: 0,
  runtime: "stub",
  noAssert: true,
  enable: ["simd"],
  initialMemory: 1,
};

/** The compiled module's bytes; throws with the compiler's output on an error. */
export async function compileKernels(): Promise<Uint8Array> {
  const source = await Deno.readTextFile(new URL("./src/kernels.ts", import.meta.url));
  const r = await asc.compileString({ "kernels.ts": source }, ASC_OPTIONS);
  if (r.error || !r.binary) throw new Error(`asc: ${r.error?.message}\n${r.stderr.toString()}`);
  return r.binary;
}
