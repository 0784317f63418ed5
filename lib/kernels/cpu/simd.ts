/**
 * SIMD matmuls for the fused kernels: a WebAssembly module compiled from
 * `wasm/src/simd.ts` (AssemblyScript, f32x4), embedded in
 * `lib/kernels/cpu/simd_wasm.ts`. `deno task bench:kernels` times them against the
 * same loops in plain JavaScript. One call serves every replica, so the
 * JS-to-wasm call costs little even at H 4.
 *
 * Operands live in the module's memory. {@linkcode Arena} hands out f32
 * regions of it; widths that are vectorised (`width` below) must be multiples
 * of 4, rows padded with zeros to {@linkcode pad4}. Each helper takes one
 * options object naming its counts; the wasm exports stay positional here.
 *
 * Not the layers nor their gate arithmetic (`layer.ts`), nor the wasm's
 * source (`wasm/src/simd.ts`, built by `deno task build:wasm`).
 */
import { SIMD_WASM } from "./simd_wasm.ts";

type Fn = (...args: number[]) => void;
const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(SIMD_WASM), (c) => c.charCodeAt(0))),
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
function checkWidth(width: number): void {
  if (width % 4 !== 0) throw new RangeError(`SIMD width must be a multiple of 4, got ${width}`);
}

/** The operands of {@linkcode matmulBias}; every count is per replica. */
export interface MatmulBiasArgs {
  /** How many replicas: each multiplies its own matrices (a {@linkcode Mat} with `rs` 0 is shared by all). */
  replicas: number;
  /** The left operand, `[rows, inner]`. */
  a: Mat;
  /** The right operand, `[inner, width]`. */
  w: Mat;
  /** The bias, one row of `width` added to every output row (`stride` 0). */
  bias: Mat;
  /** The product, `[rows, width]`, overwritten. */
  out: Mat;
  /** Rows of `a` and of `out`. */
  rows: number;
  /** The summed dimension: columns of `a`, rows of `w`. */
  inner: number;
  /** Columns of `w`, `bias` and `out`: a multiple of 4. */
  width: number;
}

/** For each replica s: out_s[r, 0:width] = bias_s[0:width] + sum_k a_s[r, k] w_s[k, 0:width], r < rows, k < inner. */
export function matmulBias({ replicas, a, w, bias, out, rows, inner, width }: MatmulBiasArgs): void {
  checkWidth(width);
  wasm.matmulBias(
    replicas,
    ...[a, w].flatMap((m) => [m.at * 4, m.rs, m.stride]),
    bias.at * 4,
    bias.rs,
    out.at * 4,
    out.rs,
    out.stride,
    rows,
    inner,
    width,
  );
}

/** The operands of {@linkcode outerAcc}; every count is per replica. */
export interface OuterAccArgs {
  /** How many replicas: each accumulates its own matrices. */
  replicas: number;
  /** The left factor, `[rows, accRows]` (in the layers: the gate gradients). */
  d: Mat;
  /** The right factor, `[rows, width]` (in the layers: the states each step read). */
  x: Mat;
  /** The sum, `[accRows, width]`, added to. */
  acc: Mat;
  /** Rows of `d` and `x`: the dimension summed over. */
  rows: number;
  /** Columns of `d`, rows of `acc`. */
  accRows: number;
  /** Columns of `x` and `acc`: a multiple of 4. */
  width: number;
}

/** For each replica s: acc_s[g, 0:width] += sum_r d_s[r, g] x_s[r, 0:width], g < accRows, r < rows. */
export function outerAcc({ replicas, d, x, acc, rows, accRows, width }: OuterAccArgs): void {
  checkWidth(width);
  wasm.outerAcc(replicas, ...[d, x, acc].flatMap((m) => [m.at * 4, m.rs, m.stride]), rows, accRows, width);
}

/** The arguments of {@linkcode copyRows}: positions and strides count floats. */
export interface CopyRowsArgs {
  src: ArrayLike<number>;
  /** Where the first row starts in `src` (default 0). */
  srcAt?: number;
  /** Floats from one row's start to the next in `src`. */
  srcStride: number;
  dst: Float32Array | Float64Array;
  /** Where the first row goes in `dst` (default 0). */
  dstAt?: number;
  /** Floats from one row's start to the next in `dst`. */
  dstStride: number;
  /** How many rows. */
  rows: number;
  /** Floats copied from each row. */
  width: number;
}

/**
 * Copies `rows` rows of `width` floats from `src` to `dst`, each with its own
 * row stride: how operands get padded into the module's memory and read back
 * out of it.
 */
export function copyRows({ src, srcAt = 0, srcStride, dst, dstAt = 0, dstStride, rows, width }: CopyRowsArgs): void {
  if (srcStride === width && dstStride === width && src instanceof Float32Array) {
    dst.set(src.subarray(srcAt, srcAt + rows * width), dstAt);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const s = srcAt + r * srcStride, d = dstAt + r * dstStride;
    for (let j = 0; j < width; j++) dst[d + j] = src[s + j];
  }
}

/** The arguments of {@linkcode copyTransposed}. */
export interface CopyTransposedArgs {
  /** `[replicas, rows, cols]`, row-major and unpadded. */
  src: Float32Array;
  dst: Float32Array;
  /** Where the first replica's matrix goes in `dst`. */
  dstAt: number;
  /** How many replicas, one matrix each, written one after the other. */
  replicas: number;
  /** Rows of each replica's matrix in `src` (G for a weight `[G, K]`): the columns written to `dst`. */
  rows: number;
  /** Columns of each matrix in `src` (K): the rows written to `dst`. */
  cols: number;
  /** Floats per row in `dst`: at least `rows`, padded to a multiple of 4 for {@linkcode matmulBias}. */
  dstStride: number;
}

/**
 * Writes each replica's `[rows, cols]` matrix from `src` transposed into `dst`
 * as `[cols, dstStride]` rows, replica after replica from `dstAt`: the layout
 * {@linkcode matmulBias} multiplies by (x W^T).
 */
export function copyTransposed({ src, dst, dstAt, replicas, rows, cols, dstStride }: CopyTransposedArgs): void {
  for (let s = 0; s < replicas; s++) {
    for (let g = 0; g < rows; g++) {
      const from = (s * rows + g) * cols, to = dstAt + s * cols * dstStride + g;
      for (let k = 0; k < cols; k++) dst[to + k * dstStride] = src[from + k];
    }
  }
}
