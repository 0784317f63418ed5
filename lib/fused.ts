/**
 * Fused sequence kernels: the whole T-step recurrence of one layer, forward
 * and its BPTT backward, as one tfjs op with its gradient (`tf.customGrad`),
 * with replicas and batch as loop dimensions: the matmuls in SIMD wasm
 * (`simd.ts`), the gate arithmetic in loops over Float32Arrays.
 *
 * Op by op, tfjs pays dispatch and tape overhead on each of the ~3T tiny ops
 * of a layer; here it pays it once. The op-level path in `models.ts` stays the
 * reference (tests check both give the same outputs and gradients) and the
 * path for backends whose tensors do not live in CPU memory.
 *
 * Inputs: `xp` `[S, B, T, G]` the input projection x W_ih^T + b_ih (b_hh not
 * folded in), `h0` (and `c0` for LSTM) `[S, B, H]`, `whh` `[S, G, H]`,
 * `bhh` `[S, G]`. Output `[S, B, T, H]` of hidden states (LSTM: `[S, B, T, 2H]`,
 * h then c at every step), equations and gate order as PyTorch's.
 */
import { tf } from "./tf.ts";
import type { CellKind } from "./cells.ts";
import { Arena, copyRows, copyTransposed, type Mat, matmulBias, outerAcc, pad4 } from "./simd.ts";

/** Backends whose tensors live in CPU memory, where the kernels of this module apply. */
export const CPU_BACKENDS = new Set(["cpu", "wasm"]);

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Sizes of a layer's sequence op: replicas, batch rows, steps, hidden units, gate rows (H x gates). */
export interface Dims {
  S: number;
  B: number;
  T: number;
  H: number;
  G: number;
}

// The matmuls (h W_hh^T forward; d W_hh and the weight gradient backward) run
// in SIMD wasm (lib/simd.ts), one call per step for every replica and batch
// row; the gate arithmetic stays here. Loops run step, replica, batch row.

/** Wasm buffers of a forward pass: W_hh^T `[S, H, Gp]`, b_hh, h `[S, B, Hp]`, h W_hh^T + b_hh `[S, B, Gp]`. */
class Forward {
  readonly m = new Arena();
  readonly Hp: number;
  readonly Gp: number;
  readonly wt: Mat;
  readonly bias: Mat;
  readonly h: Mat;
  readonly out: Mat;

  constructor(readonly dims: Dims, w: Float32Array, bh: Float32Array, h0: Float32Array) {
    const { S, B, H, G } = dims;
    const [Hp, Gp] = [this.Hp, this.Gp] = [pad4(H), pad4(G)];
    this.wt = { at: this.m.alloc(S * H * Gp), rs: H * Gp, stride: Gp };
    this.bias = { at: this.m.alloc(S * Gp), rs: Gp, stride: 0 };
    this.h = { at: this.m.alloc(S * B * Hp), rs: B * Hp, stride: Hp };
    this.out = { at: this.m.alloc(S * B * Gp), rs: B * Gp, stride: Gp };
    const f = this.m.f32;
    copyTransposed(w, f, this.wt.at, S, G, H, Gp);
    copyRows(bh, 0, G, f, this.bias.at, Gp, S, G);
    copyRows(h0, 0, H, f, this.h.at, Hp, S * B, H);
  }

  /** Where h of replica s, row b starts in `m.f32`. */
  hAt(s: number, b: number): number {
    return this.h.at + (s * this.dims.B + b) * this.Hp;
  }

  /** Where h W_hh^T + b_hh of replica s, row b starts in `m.f32`. */
  outAt(s: number, b: number): number {
    return this.out.at + (s * this.dims.B + b) * this.Gp;
  }

  /** out = h W_hh^T + b_hh for every replica and batch row. */
  step(): void {
    const { S, B, H } = this.dims;
    matmulBias(S, this.h, this.wt, this.bias, this.out, B, H, this.Gp);
  }
}

/**
 * Wasm buffers of a backward pass: W_hh `[S, G, Hp]`, the gate gradients `d`
 * `[S, T, B, G]` and previous states `x` `[S, T, B, Hp]` of every step, d W_hh.
 */
class Backward {
  readonly m = new Arena();
  readonly Hp: number;
  readonly w: Mat;
  readonly zeros: Mat;
  readonly d: Mat;
  readonly x: Mat;
  readonly dPrev: Mat;
  readonly acc: Mat;

  constructor(readonly dims: Dims, whh: Float32Array) {
    const { S, B, T, H, G } = dims;
    const Hp = this.Hp = pad4(H);
    this.w = { at: this.m.alloc(S * G * Hp), rs: G * Hp, stride: Hp };
    this.zeros = { at: this.m.alloc(Hp), rs: 0, stride: 0 };
    this.d = { at: this.m.alloc(S * T * B * G), rs: T * B * G, stride: G };
    this.x = { at: this.m.alloc(S * T * B * Hp), rs: T * B * Hp, stride: Hp };
    this.dPrev = { at: this.m.alloc(S * B * Hp), rs: B * Hp, stride: Hp };
    this.acc = { at: this.m.alloc(S * G * Hp), rs: G * Hp, stride: Hp };
    copyRows(whh, 0, H, this.m.f32, this.w.at, Hp, S * G, H);
  }

  /** Where the gate gradient d of replica s, step t, row b starts in `m.f32`. */
  dAt(s: number, t: number, b: number): number {
    const { T, B, G } = this.dims;
    return this.d.at + ((s * T + t) * B + b) * G;
  }

  /** x[s, t, b] = the state that step read: src[off .. off + H]. */
  setX(s: number, t: number, b: number, src: ArrayLike<number>, off: number): void {
    const { T, B, H } = this.dims, f = this.m.f32, at = this.x.at + ((s * T + t) * B + b) * this.Hp;
    for (let j = 0; j < H; j++) f[at + j] = src[off + j];
  }

  /** dh = d[t] W_hh (+ `plus`) for every replica and batch row: the gradient reaching step t - 1. */
  back(t: number, dh: Float64Array, plus?: Float64Array): void {
    const { S, B, H, G } = this.dims, f = this.m.f32;
    matmulBias(S, { ...this.d, at: this.d.at + t * B * G }, this.w, this.zeros, this.dPrev, B, G, this.Hp);
    for (let sb = 0; sb < S * B; sb++) {
      const at = this.dPrev.at + sb * this.Hp;
      for (let j = 0; j < H; j++) dh[sb * H + j] = f[at + j] + (plus ? plus[sb * H + j] : 0);
    }
  }

  /** d W_hh and d b_hh, summed over every step and row. */
  finish(): { dW: Float32Array; db: Float32Array } {
    const { S, B, T, H, G } = this.dims, f = this.m.f32, R = T * B;
    outerAcc(S, this.d, this.x, this.acc, R, G, this.Hp);
    const dW = new Float32Array(S * G * H), db = new Float32Array(S * G);
    copyRows(f, this.acc.at, this.Hp, dW, 0, H, S * G, H);
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < G; g++) {
        let sum = 0;
        for (let r = 0; r < R; r++) sum += f[this.d.at + (s * R + r) * G + g];
        db[s * G + g] = sum;
      }
    }
    return { dW, db };
  }
}

function rnnKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims;
  const y = new Float32Array(S * B * T * H);
  const fw = new Forward(dims, w, bh, h0), f = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const a = xp[row * G + j] + f[at + j];
          f[h + j] = y[row * H + j] = a > 0 ? a : 0;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), f = bw.m.f32;
    const dh = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, d = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const g = dh[sb * H + j] + dy[row * H + j];
            f[d + j] = dxp[row * G + j] = y[row * H + j] > 0 ? g : 0;
          }
          if (t > 0) bw.setX(s, t, b, y, (row - 1) * H);
          else bw.setX(s, t, b, h0, sb * H);
        }
      }
      bw.back(t, dh);
    }
    dh0.set(dh);
    return { dxp, dh0, dc0: null, ...bw.finish() };
  };
  return { y, backward };
}

function lstmKernel(
  dims: Dims,
  xp: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
  w: Float32Array,
  bh: Float32Array,
) {
  const { S, B, T, H, G } = dims; // G = 4H, gates i, f, g, o
  const y = new Float32Array(S * B * T * 2 * H);
  const acts = new Float64Array(S * B * T * G); // sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
  const tanhC = new Float64Array(S * B * T * H);
  const cPrev = Float64Array.from(c0);
  const fw = new Forward(dims, w, bh, h0), f = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const sb = s * B + b, row = sb * T + t, xo = row * G, o = row * 2 * H, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const i = sigmoid(xp[xo + j] + f[at + j]);
          const fg = sigmoid(xp[xo + H + j] + f[at + H + j]);
          const g = Math.tanh(xp[xo + 2 * H + j] + f[at + 2 * H + j]);
          const og = sigmoid(xp[xo + 3 * H + j] + f[at + 3 * H + j]);
          const c = fg * cPrev[sb * H + j] + i * g;
          const tc = Math.tanh(c);
          acts[xo + j] = i;
          acts[xo + H + j] = fg;
          acts[xo + 2 * H + j] = g;
          acts[xo + 3 * H + j] = og;
          tanhC[row * H + j] = tc;
          f[h + j] = y[o + j] = og * tc;
          y[o + H + j] = c;
          cPrev[sb * H + j] = c;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H), dc0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), f = bw.m.f32;
    const dh = new Float64Array(S * B * H), dc = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, xo = row * G, o = row * 2 * H, d = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const i = acts[xo + j], fg = acts[xo + H + j], g = acts[xo + 2 * H + j], og = acts[xo + 3 * H + j];
            const tc = tanhC[row * H + j];
            const cp = t > 0 ? y[o - H + j] : c0[sb * H + j];
            const dhj = dh[sb * H + j] + dy[o + j];
            const dcj = dc[sb * H + j] + dy[o + H + j] + dhj * og * (1 - tc * tc);
            f[d + j] = dxp[xo + j] = dcj * g * i * (1 - i);
            f[d + H + j] = dxp[xo + H + j] = dcj * cp * fg * (1 - fg);
            f[d + 2 * H + j] = dxp[xo + 2 * H + j] = dcj * i * (1 - g * g);
            f[d + 3 * H + j] = dxp[xo + 3 * H + j] = dhj * tc * og * (1 - og);
            dc[sb * H + j] = dcj * fg;
          }
          if (t > 0) bw.setX(s, t, b, y, o - 2 * H);
          else bw.setX(s, t, b, h0, sb * H);
        }
      }
      bw.back(t, dh);
    }
    dh0.set(dh);
    dc0.set(dc);
    return { dxp, dh0, dc0, ...bw.finish() };
  };
  return { y, backward };
}

function gruKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims; // G = 3H, gates r, z, n
  const y = new Float32Array(S * B * T * H);
  const acts = new Float64Array(S * B * T * 4 * H); // r, z, n, (W_hn h + b_hn)
  const fw = new Forward(dims, w, bh, h0), f = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, xo = row * G, ao = row * 4 * H, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const r = sigmoid(xp[xo + j] + f[at + j]);
          const z = sigmoid(xp[xo + H + j] + f[at + H + j]);
          const hn = f[at + 2 * H + j];
          const n = Math.tanh(xp[xo + 2 * H + j] + r * hn);
          acts[ao + j] = r;
          acts[ao + H + j] = z;
          acts[ao + 2 * H + j] = n;
          acts[ao + 3 * H + j] = hn;
          f[h + j] = y[row * H + j] = (1 - z) * n + z * f[h + j];
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), f = bw.m.f32;
    const dh = new Float64Array(S * B * H), dz = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, xo = row * G, ao = row * 4 * H, d = bw.dAt(s, t, b);
          const [prev, prevOff] = t > 0 ? [y, (row - 1) * H] as const : [h0, sb * H] as const;
          for (let j = 0; j < H; j++) {
            const r = acts[ao + j], z = acts[ao + H + j], n = acts[ao + 2 * H + j], hn = acts[ao + 3 * H + j];
            const dj = dh[sb * H + j] + dy[row * H + j];
            const dan = dj * (1 - z) * (1 - n * n);
            const daz = dj * (prev[prevOff + j] - n) * z * (1 - z);
            const dar = dan * hn * r * (1 - r);
            f[d + j] = dxp[xo + j] = dar;
            f[d + H + j] = dxp[xo + H + j] = daz;
            dxp[xo + 2 * H + j] = dan;
            f[d + 2 * H + j] = dan * r;
            dz[sb * H + j] = dj * z;
          }
          bw.setX(s, t, b, prev, prevOff);
        }
      }
      bw.back(t, dh, dz);
    }
    dh0.set(dh);
    return { dxp, dh0, dc0: null, ...bw.finish() };
  };
  return { y, backward };
}

/**
 * x W^T + b for every replica as one op with its gradient: `x` `[S, N, K]`,
 * `w` `[S, G, K]`, `b` `[S, G]`, giving `[S, N, G]`. The input projections and
 * the head of the fused path, where tfjs-wasm's batched matmul is slow.
 */
export function fusedLinear(x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor2D): tf.Tensor3D {
  const [S, N, K] = x.shape;
  const G = w.shape[1];
  const [Kp, Gp] = [pad4(K), pad4(G)];
  const op = tf.customGrad((...args: (tf.Tensor | ((s: tf.Tensor[]) => void))[]) => {
    const [xd, wd, bd] = (args.slice(0, 3) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
    const y = new Float32Array(S * N * G);
    {
      const m = new Arena();
      const xr: Mat = { at: m.alloc(S * N * K), rs: N * K, stride: K };
      const wt: Mat = { at: m.alloc(S * K * Gp), rs: K * Gp, stride: Gp };
      const bias: Mat = { at: m.alloc(S * Gp), rs: Gp, stride: 0 };
      const out: Mat = { at: m.alloc(S * N * Gp), rs: N * Gp, stride: Gp };
      const f = m.f32;
      f.set(xd, xr.at);
      copyTransposed(wd, f, wt.at, S, G, K, Gp);
      copyRows(bd, 0, G, f, bias.at, Gp, S, G);
      matmulBias(S, xr, wt, bias, out, N, K, Gp);
      copyRows(f, out.at, Gp, y, 0, G, S * N, G);
    }
    const gradFunc = (dy: tf.Tensor) => {
      const dyd = dy.dataSync() as Float32Array;
      const dx = new Float32Array(S * N * K), dw = new Float32Array(S * G * K), db = new Float32Array(S * G);
      const m = new Arena();
      const d: Mat = { at: m.alloc(S * N * G), rs: N * G, stride: G };
      const wn: Mat = { at: m.alloc(S * G * Kp), rs: G * Kp, stride: Kp };
      const zeros: Mat = { at: m.alloc(Kp), rs: 0, stride: 0 };
      const xp: Mat = { at: m.alloc(S * N * Kp), rs: N * Kp, stride: Kp };
      const dxr: Mat = { at: m.alloc(S * N * Kp), rs: N * Kp, stride: Kp };
      const acc: Mat = { at: m.alloc(S * G * Kp), rs: G * Kp, stride: Kp };
      const f = m.f32;
      f.set(dyd, d.at);
      copyRows(wd, 0, K, f, wn.at, Kp, S * G, K);
      copyRows(xd, 0, K, f, xp.at, Kp, S * N, K);
      matmulBias(S, d, wn, zeros, dxr, N, G, Kp); // dx = dy W
      outerAcc(S, d, xp, acc, N, G, Kp); // dW = dy^T x
      copyRows(f, dxr.at, Kp, dx, 0, K, S * N, K);
      copyRows(f, acc.at, Kp, dw, 0, K, S * G, K);
      for (let sg = 0; sg < S * G; sg++) {
        const [s, g] = [Math.floor(sg / G), sg % G];
        let sum = 0;
        for (let n = 0; n < N; n++) sum += dyd[(s * N + n) * G + g];
        db[sg] = sum;
      }
      return [tf.tensor3d(dx, [S, N, K]), tf.tensor3d(dw, [S, G, K]), tf.tensor2d(db, [S, G])];
    };
    return { value: tf.tensor3d(y, [S, N, G]), gradFunc };
  });
  return (op as (...t: tf.Tensor[]) => tf.Tensor3D)(x, w, b);
}

/**
 * One recurrent layer over the whole sequence as a single op with its
 * gradient. Returns `[S, B, T, H]` hidden states (LSTM: `[S, B, T, 2H]`, h then c).
 */
export function fusedLayer(
  cell: CellKind,
  xp: tf.Tensor4D,
  h0: tf.Tensor3D,
  c0: tf.Tensor3D | null,
  whh: tf.Tensor3D,
  bhh: tf.Tensor2D,
): tf.Tensor4D {
  const [S, B, T, G] = xp.shape;
  const H = whh.shape[2];
  const dims = { S, B, T, H, G };
  const lstm = cell === "lstm";
  const op = tf.customGrad((...args: (tf.Tensor | ((s: tf.Tensor[]) => void))[]) => {
    const [x, h, ...rest] = args as tf.Tensor[];
    const [c, w, b] = lstm ? rest : [h, ...rest]; // c is unused unless LSTM
    const data = (t: tf.Tensor) => t.dataSync() as Float32Array;
    const k = cell === "lstm"
      ? lstmKernel(dims, data(x), data(h), data(c), data(w), data(b))
      : cell === "gru"
      ? gruKernel(dims, data(x), data(h), data(w), data(b))
      : rnnKernel(dims, data(x), data(h), data(w), data(b));
    const value = tf.tensor4d(k.y, [S, B, T, lstm ? 2 * H : H]);
    const gradFunc = (dy: tf.Tensor) => {
      const g = k.backward(dy.dataSync() as Float32Array);
      const grads = [
        tf.tensor4d(g.dxp, [S, B, T, G]),
        tf.tensor3d(g.dh0, [S, B, H]),
        ...(lstm ? [tf.tensor3d(g.dc0!, [S, B, H])] : []),
        tf.tensor3d(g.dW, [S, G, H]),
        tf.tensor2d(g.db, [S, G]),
      ];
      return grads;
    };
    return { value, gradFunc };
  });
  const inputs = lstm ? [xp, h0, c0!, whh, bhh] : [xp, h0, whh, bhh];
  return (op as (...t: tf.Tensor[]) => tf.Tensor4D)(...inputs);
}
