/**
 * SIMD matmuls for the fused kernels: a WebAssembly module compiled from
 * `wasm/src/kernels.ts` (AssemblyScript, f32x4), embedded in
 * `lib/kernels_wasm.ts`. Measured here they run at about 10 GMAC/s against
 * about 1.5 for the same loops in scalar JavaScript.
 *
 * Operands live in the module's memory. {@linkcode Arena} hands out f32
 * regions of it; rows whose width is vectorised are padded to a multiple of 4
 * with {@linkcode pad4}, and the padding must hold zeros.
 */
import { KERNELS_WASM } from "./kernels_wasm.ts";

interface Exports {
  memory: WebAssembly.Memory;
  matmulBias(
    a: number,
    aStride: number,
    w: number,
    wStride: number,
    bias: number,
    out: number,
    outStride: number,
    R: number,
    K: number,
    N: number,
  ): void;
  outerAcc(
    d: number,
    dStride: number,
    x: number,
    xStride: number,
    acc: number,
    accStride: number,
    R: number,
    G: number,
    N: number,
  ): void;
}

const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0))),
  { env: { abort: () => {} } },
).exports as unknown as Exports;

/** `n` rounded up to a multiple of 4, the f32x4 width. */
export const pad4 = (n: number): number => (n + 3) & ~3;

/** A region of the module's memory: `at` indexes {@linkcode Arena.f32}, `ptr` is the byte address. */
export interface Region {
  at: number;
  ptr: number;
}

/**
 * Regions of the module's memory for one kernel call, zero-filled. `alloc`
 * every region first, then use `f32`: growing the memory detaches old views.
 */
export class Arena {
  #next = 0;
  f32 = new Float32Array(wasm.memory.buffer);

  /** A zeroed region of `n` floats. */
  alloc(n: number): Region {
    const at = this.#next;
    this.#next += pad4(n);
    const need = this.#next * 4 - wasm.memory.buffer.byteLength;
    if (need > 0) wasm.memory.grow(Math.ceil(need / 65536));
    this.f32 = new Float32Array(wasm.memory.buffer);
    this.f32.fill(0, at, this.#next);
    return { at, ptr: at * 4 };
  }
}

/**
 * out[r, 0:N] = bias[0:N] + sum_k a[r, k] w[k, 0:N] for r < R. Strides count
 * floats; N a multiple of 4.
 */
export function matmulBias(
  a: Region,
  aStride: number,
  w: Region,
  wStride: number,
  bias: Region,
  out: Region,
  outStride: number,
  R: number,
  K: number,
  N: number,
): void {
  wasm.matmulBias(a.ptr, aStride, w.ptr, wStride, bias.ptr, out.ptr, outStride, R, K, N);
}

/** acc[g, 0:N] += sum_r d[r, g] x[r, 0:N] for g < G; N a multiple of 4. */
export function outerAcc(
  d: Region,
  dStride: number,
  x: Region,
  xStride: number,
  acc: Region,
  accStride: number,
  R: number,
  G: number,
  N: number,
): void {
  wasm.outerAcc(d.ptr, dStride, x.ptr, xStride, acc.ptr, accStride, R, G, N);
}

/** The region `n` floats into `r`. */
export const sub = (r: Region, n: number): Region => ({ at: r.at + n, ptr: (r.at + n) * 4 });
