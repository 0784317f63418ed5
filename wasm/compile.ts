/**
 * Compiles the AssemblyScript kernels in `wasm/src/kernels.ts` to WebAssembly
 * with SIMD. Shared by the build task and the test that checks the committed
 * binary (`lib/kernels/cpu/simd_wasm.ts`) is what the committed source compiles to.
 */

/**
 * The compiler, loaded when first needed. It pulls binaryen (about 100 MB), so
 * it is not in the import map: `deno install` leaves it out, and the variable
 * specifier keeps `deno check` from fetching it. `deno task build:wasm`
 * installs it on first use (with --no-lock, so deno.lock stays without it).
 */
const ASC: string = "npm:assemblyscript@0.28.20/asc";

/** The part of the compiler's API used here. */
interface Asc {
  compileString(
    sources: Record<string, string>,
    options: Record<string, unknown>,
  ): Promise<{ error: Error | null; binary: Uint8Array | null; stderr: { toString(): string } }>;
}

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
  const asc: Asc = (await import(ASC)).default;
  const source = await Deno.readTextFile(new URL("./src/kernels.ts", import.meta.url));
  const r = await asc.compileString({ "kernels.ts": source }, ASC_OPTIONS);
  if (r.error || !r.binary) throw new Error(`asc: ${r.error?.message}\n${r.stderr.toString()}`);
  return r.binary;
}
