/**
 * SIMD matmuls for the fused kernels: a WebAssembly module compiled from
 * `wasm/src/kernels.ts` (AssemblyScript, f32x4), embedded in
 * `lib/kernels/cpu/simd_wasm.ts`. `deno task bench:kernels` times them against the
 * same loops in plain JavaScript. One call serves every replica, so the
 * JS-to-wasm call costs little even at H 4.
 *
 * Operands live in the module's memory. {@linkcode Arena} hands out f32
 * regions of it; widths that are vectorised (N below) must be multiples of 4,
 * rows padded with zeros to {@linkcode pad4}.
 */
import { KERNELS_WASM } from "./simd_wasm.ts";

type Fn = (...args: number[]) => void;
const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0))),
  { env: { abort: () => {} } },
).exports as { memory: WebAssembly.Memory; matmulBias: Fn; outerAcc: Fn };

/** `n` rounded up to a multiple of 4, the f32x4 width. */
export const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * A matrix per replica in the module's memory: element (s, row, col) is
 * `f32[at + s * rs + row * stride + col]`. `rs` 0 shares one matrix.
 */
export interface Mat {
  at: number;
  rs: number;
  stride: number;
}

/**
 * Regions of the module's memory for one kernel call, zero-filled, from the
 * start of memory: one arena at a time. `alloc` every region first, then read
 * `f32`: growing the memory detaches earlier views.
 */
export class Arena {
  #next = 0;
  f32 = new Float32Array(wasm.memory.buffer);

  /** The index in `f32` of a zeroed region of `n` floats. */
  alloc(n: number): number {
    const at = this.#next;
    this.#next += pad4(n);
    const need = this.#next * 4 - wasm.memory.buffer.byteLength;
    if (need > 0) wasm.memory.grow(Math.ceil(need / 65536));
    this.f32 = new Float32Array(wasm.memory.buffer);
    this.f32.fill(0, at, this.#next);
    return at;
  }
}

// The kernels store whole f32x4 vectors: a width that is not a multiple of 4 would write past each row.
function checkWidth(N: number): void {
  if (N % 4 !== 0) throw new RangeError(`SIMD width N must be a multiple of 4, got ${N}`);
}

/** For each replica s < S: out_s[r, 0:N] = bias_s[0:N] + sum_k a_s[r, k] w_s[k, 0:N], r < R. */
export function matmulBias(S: number, a: Mat, w: Mat, bias: Mat, out: Mat, R: number, K: number, N: number): void {
  checkWidth(N);
  wasm.matmulBias(
    S,
    ...[a, w].flatMap((m) => [m.at * 4, m.rs, m.stride]),
    bias.at * 4,
    bias.rs,
    out.at * 4,
    out.rs,
    out.stride,
    R,
    K,
    N,
  );
}

/** For each replica s < S: acc_s[g, 0:N] += sum_r d_s[r, g] x_s[r, 0:N], g < G. */
export function outerAcc(S: number, d: Mat, x: Mat, acc: Mat, R: number, G: number, N: number): void {
  checkWidth(N);
  wasm.outerAcc(S, ...[d, x, acc].flatMap((m) => [m.at * 4, m.rs, m.stride]), R, G, N);
}

/**
 * Copies `rows` rows of `width` floats from `src` (rows `srcStride` apart,
 * from `srcAt`) to `dst` (rows `dstStride` apart, from `dstAt`): how operands
 * get padded into the module's memory and read back out of it.
 */
export function copyRows(
  src: ArrayLike<number>,
  srcAt: number,
  srcStride: number,
  dst: Float32Array | Float64Array,
  dstAt: number,
  dstStride: number,
  rows: number,
  width: number,
): void {
  if (srcStride === width && dstStride === width && src instanceof Float32Array) {
    dst.set(src.subarray(srcAt, srcAt + rows * width), dstAt);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const s = srcAt + r * srcStride, d = dstAt + r * dstStride;
    for (let j = 0; j < width; j++) dst[d + j] = src[s + j];
  }
}

/**
 * Writes each replica's `[G, K]` matrix from `src` (`[S, G, K]`, row-major)
 * transposed into `dst` as `[K, Gp]` rows, replica after replica from
 * `dstAt`: the layout {@linkcode matmulBias} multiplies by (x W^T).
 */
export function copyTransposed(
  src: Float32Array,
  dst: Float32Array,
  dstAt: number,
  S: number,
  G: number,
  K: number,
  Gp: number,
): void {
  for (let s = 0; s < S; s++) {
    for (let g = 0; g < G; g++) {
      const from = (s * G + g) * K, to = dstAt + s * K * Gp + g;
      for (let k = 0; k < K; k++) dst[to + k * Gp] = src[from + k];
    }
  }
}
