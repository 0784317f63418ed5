/**
 * Fused sequence kernels: the whole T-step recurrence of one layer, forward
 * and its BPTT backward, as one tfjs op with its gradient (`tf.customGrad`),
 * looping over Float32Arrays with replicas and batch as loop dimensions.
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
import type { CellKind } from "./models.ts";
import { Arena, matmulBias, outerAcc, pad4, type Region, sub } from "./simd.ts";

/** Backends whose tensors live in CPU memory, where the fused kernels apply. */
export const FUSED_BACKENDS = new Set(["cpu", "wasm"]);

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface Dims {
  S: number;
  B: number;
  T: number;
  H: number;
  G: number;
}

// The matmuls (h W_hh^T forward; d W_hh and the weight gradient backward) run
// in SIMD wasm (lib/simd.ts), a replica at a time and the whole batch per call;
// the gate arithmetic stays here. Loops run replica, step, batch row.

/** Wasm buffers of a forward pass: W_hh^T `[H, Gp]`, b_hh, h `[B, Hp]`, h W_hh^T + b_hh `[B, Gp]`. */
class Forward {
  readonly m = new Arena();
  readonly Hp: number;
  readonly Gp: number;
  readonly wt: Region;
  readonly bias: Region;
  readonly h: Region;
  readonly out: Region;

  constructor(readonly dims: Dims, readonly w: Float32Array, readonly bh: Float32Array) {
    const { B, H, G } = dims;
    [this.Hp, this.Gp] = [pad4(H), pad4(G)];
    this.wt = this.m.alloc(H * this.Gp);
    this.bias = this.m.alloc(this.Gp);
    this.h = this.m.alloc(B * this.Hp);
    this.out = this.m.alloc(B * this.Gp);
  }

  /** Loads replica s's W_hh (transposed) and b_hh, and its initial state from `h0`. */
  start(s: number, h0: Float32Array): void {
    const { B, H, G } = this.dims, f = this.m.f32;
    for (let g = 0; g < G; g++) {
      for (let k = 0; k < H; k++) f[this.wt.at + k * this.Gp + g] = this.w[(s * G + g) * H + k];
      f[this.bias.at + g] = this.bh[s * G + g];
    }
    for (let b = 0; b < B; b++) this.setH(b, h0, (s * B + b) * H);
  }

  /** h[b] = src[off .. off + H]. */
  setH(b: number, src: ArrayLike<number>, off: number): void {
    const f = this.m.f32, at = this.h.at + b * this.Hp;
    for (let j = 0; j < this.dims.H; j++) f[at + j] = src[off + j];
  }

  /** out = h W_hh^T + b_hh for every batch row; returns where row b starts in `m.f32`. */
  step(): (b: number) => number {
    const { B, H } = this.dims;
    matmulBias(this.h, this.Hp, this.wt, this.Gp, this.bias, this.out, this.Gp, B, H, this.Gp);
    return (b) => this.out.at + b * this.Gp;
  }
}

/**
 * Wasm buffers of a backward pass: W_hh `[G, Hp]`, the gate gradients `d` and
 * previous states `x` of every step and row, and d W_hh.
 */
class Backward {
  readonly m = new Arena();
  readonly Hp: number;
  readonly w: Region;
  readonly zeros: Region;
  readonly d: Region;
  readonly x: Region;
  readonly dPrev: Region;
  readonly acc: Region;
  readonly dW: Float32Array;
  readonly db: Float32Array;

  constructor(readonly dims: Dims, readonly whh: Float32Array) {
    const { S, B, T, H, G } = dims;
    this.Hp = pad4(H);
    this.w = this.m.alloc(G * this.Hp);
    this.zeros = this.m.alloc(this.Hp);
    this.d = this.m.alloc(T * B * G);
    this.x = this.m.alloc(T * B * this.Hp);
    this.dPrev = this.m.alloc(B * this.Hp);
    this.acc = this.m.alloc(G * this.Hp);
    this.dW = new Float32Array(S * G * H);
    this.db = new Float32Array(S * G);
  }

  /** Loads replica s's W_hh. */
  start(s: number): void {
    const { H, G } = this.dims, f = this.m.f32;
    for (let g = 0; g < G; g++) {
      for (let k = 0; k < H; k++) f[this.w.at + g * this.Hp + k] = this.whh[(s * G + g) * H + k];
    }
  }

  /** Where gate gradient d[t, b, 0:G] goes in `m.f32`. */
  dAt(t: number, b: number): number {
    return this.d.at + (t * this.dims.B + b) * this.dims.G;
  }

  /** x[t, b] = the state the step read: src[off .. off + H]. */
  setX(t: number, b: number, src: ArrayLike<number>, off: number): void {
    const f = this.m.f32, at = this.x.at + (t * this.dims.B + b) * this.Hp;
    for (let j = 0; j < this.dims.H; j++) f[at + j] = src[off + j];
  }

  /** d[t] W_hh for every batch row; returns where row b starts in `m.f32`. */
  back(t: number): (b: number) => number {
    const { B, G } = this.dims;
    matmulBias(sub(this.d, t * B * G), G, this.w, this.Hp, this.zeros, this.dPrev, this.Hp, B, G, this.Hp);
    return (b) => this.dPrev.at + b * this.Hp;
  }

  /** d W_hh and d b_hh of replica s, summed over every step and row. */
  finish(s: number): void {
    const { B, T, H, G } = this.dims, f = this.m.f32, R = T * B;
    f.fill(0, this.acc.at, this.acc.at + G * this.Hp);
    outerAcc(this.d, G, this.x, this.Hp, this.acc, this.Hp, R, G, this.Hp);
    for (let g = 0; g < G; g++) {
      for (let k = 0; k < H; k++) this.dW[(s * G + g) * H + k] = f[this.acc.at + g * this.Hp + k];
      let sum = 0;
      for (let r = 0; r < R; r++) sum += f[this.d.at + r * G + g];
      this.db[s * G + g] = sum;
    }
  }
}

function rnnKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims;
  const y = new Float32Array(S * B * T * H);
  const fw = new Forward(dims, w, bh), f = fw.m.f32;
  for (let s = 0; s < S; s++) {
    fw.start(s, h0);
    for (let t = 0; t < T; t++) {
      const hh = fw.step();
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, at = hh(b), h = fw.h.at + b * fw.Hp;
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
    const dh = new Float64Array(B * H);
    for (let s = 0; s < S; s++) {
      bw.start(s);
      dh.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        for (let b = 0; b < B; b++) {
          const row = (s * B + b) * T + t, d = bw.dAt(t, b);
          for (let j = 0; j < H; j++) {
            const g = dh[b * H + j] + dy[row * H + j];
            f[d + j] = dxp[row * G + j] = y[row * H + j] > 0 ? g : 0;
          }
          if (t > 0) bw.setX(t, b, y, (row - 1) * H);
          else bw.setX(t, b, h0, (s * B + b) * H);
        }
        const dPrev = bw.back(t);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dh[b * H + j] = f[dPrev(b) + j];
      }
      for (let i = 0; i < B * H; i++) dh0[s * B * H + i] = dh[i];
      bw.finish(s);
    }
    return { dxp, dh0, dc0: null, dW: bw.dW, db: bw.db };
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
  const cPrev = new Float64Array(B * H);
  const fw = new Forward(dims, w, bh), f = fw.m.f32;
  for (let s = 0; s < S; s++) {
    fw.start(s, h0);
    for (let i = 0; i < B * H; i++) cPrev[i] = c0[s * B * H + i];
    for (let t = 0; t < T; t++) {
      const hh = fw.step();
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, xo = row * G, o = row * 2 * H, at = hh(b), h = fw.h.at + b * fw.Hp;
        for (let j = 0; j < H; j++) {
          const i = sigmoid(xp[xo + j] + f[at + j]);
          const fg = sigmoid(xp[xo + H + j] + f[at + H + j]);
          const g = Math.tanh(xp[xo + 2 * H + j] + f[at + 2 * H + j]);
          const og = sigmoid(xp[xo + 3 * H + j] + f[at + 3 * H + j]);
          const c = fg * cPrev[b * H + j] + i * g;
          const tc = Math.tanh(c);
          acts[xo + j] = i;
          acts[xo + H + j] = fg;
          acts[xo + 2 * H + j] = g;
          acts[xo + 3 * H + j] = og;
          tanhC[row * H + j] = tc;
          f[h + j] = y[o + j] = og * tc;
          y[o + H + j] = c;
          cPrev[b * H + j] = c;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H), dc0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), f = bw.m.f32;
    const dh = new Float64Array(B * H), dc = new Float64Array(B * H);
    for (let s = 0; s < S; s++) {
      bw.start(s);
      dh.fill(0);
      dc.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, xo = row * G, o = row * 2 * H, d = bw.dAt(t, b);
          for (let j = 0; j < H; j++) {
            const i = acts[xo + j], fg = acts[xo + H + j], g = acts[xo + 2 * H + j], og = acts[xo + 3 * H + j];
            const tc = tanhC[row * H + j];
            const cp = t > 0 ? y[o - H + j] : c0[sb * H + j];
            const dhj = dh[b * H + j] + dy[o + j];
            const dcj = dc[b * H + j] + dy[o + H + j] + dhj * og * (1 - tc * tc);
            f[d + j] = dxp[xo + j] = dcj * g * i * (1 - i);
            f[d + H + j] = dxp[xo + H + j] = dcj * cp * fg * (1 - fg);
            f[d + 2 * H + j] = dxp[xo + 2 * H + j] = dcj * i * (1 - g * g);
            f[d + 3 * H + j] = dxp[xo + 3 * H + j] = dhj * tc * og * (1 - og);
            dc[b * H + j] = dcj * fg;
          }
          if (t > 0) bw.setX(t, b, y, o - 2 * H);
          else bw.setX(t, b, h0, sb * H);
        }
        const dPrev = bw.back(t);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dh[b * H + j] = f[dPrev(b) + j];
      }
      for (let i = 0; i < B * H; i++) [dh0[s * B * H + i], dc0[s * B * H + i]] = [dh[i], dc[i]];
      bw.finish(s);
    }
    return { dxp, dh0, dc0, dW: bw.dW, db: bw.db };
  };
  return { y, backward };
}

function gruKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims; // G = 3H, gates r, z, n
  const y = new Float32Array(S * B * T * H);
  const acts = new Float64Array(S * B * T * 4 * H); // r, z, n, (W_hn h + b_hn)
  const fw = new Forward(dims, w, bh), f = fw.m.f32;
  for (let s = 0; s < S; s++) {
    fw.start(s, h0);
    for (let t = 0; t < T; t++) {
      const hh = fw.step();
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, xo = row * G, ao = row * 4 * H, at = hh(b), h = fw.h.at + b * fw.Hp;
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
    const dh = new Float64Array(B * H), dz = new Float64Array(B * H);
    for (let s = 0; s < S; s++) {
      bw.start(s);
      dh.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, xo = row * G, ao = row * 4 * H, d = bw.dAt(t, b);
          const [prev, prevOff] = t > 0 ? [y, (row - 1) * H] as const : [h0, sb * H] as const;
          for (let j = 0; j < H; j++) {
            const r = acts[ao + j], z = acts[ao + H + j], n = acts[ao + 2 * H + j], hn = acts[ao + 3 * H + j];
            const dj = dh[b * H + j] + dy[row * H + j];
            const dan = dj * (1 - z) * (1 - n * n);
            const daz = dj * (prev[prevOff + j] - n) * z * (1 - z);
            const dar = dan * hn * r * (1 - r);
            f[d + j] = dxp[xo + j] = dar;
            f[d + H + j] = dxp[xo + H + j] = daz;
            dxp[xo + 2 * H + j] = dan;
            f[d + 2 * H + j] = dan * r;
            dz[b * H + j] = dj * z;
          }
          bw.setX(t, b, prev, prevOff);
        }
        const dPrev = bw.back(t);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dh[b * H + j] = dz[b * H + j] + f[dPrev(b) + j];
      }
      for (let i = 0; i < B * H; i++) dh0[s * B * H + i] = dh[i];
      bw.finish(s);
    }
    return { dxp, dh0, dc0: null, dW: bw.dW, db: bw.db };
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
      const xr = m.alloc(N * K), wt = m.alloc(K * Gp), bias = m.alloc(Gp), out = m.alloc(N * Gp), f = m.f32;
      for (let s = 0; s < S; s++) {
        f.set(xd.subarray(s * N * K, (s + 1) * N * K), xr.at);
        for (let g = 0; g < G; g++) {
          for (let k = 0; k < K; k++) f[wt.at + k * Gp + g] = wd[(s * G + g) * K + k];
          f[bias.at + g] = bd[s * G + g];
        }
        matmulBias(xr, K, wt, Gp, bias, out, Gp, N, K, Gp);
        for (let n = 0; n < N; n++) y.set(f.subarray(out.at + n * Gp, out.at + n * Gp + G), (s * N + n) * G);
      }
    }
    const gradFunc = (dy: tf.Tensor) => {
      const dyd = dy.dataSync() as Float32Array;
      const dx = new Float32Array(S * N * K), dw = new Float32Array(S * G * K), db = new Float32Array(S * G);
      const m = new Arena();
      const d = m.alloc(N * G), wn = m.alloc(G * Kp), zeros = m.alloc(Kp), xp = m.alloc(N * Kp);
      const dxr = m.alloc(N * Kp), acc = m.alloc(G * Kp), f = m.f32;
      for (let s = 0; s < S; s++) {
        f.set(dyd.subarray(s * N * G, (s + 1) * N * G), d.at);
        for (let g = 0; g < G; g++) f.set(wd.subarray((s * G + g) * K, (s * G + g + 1) * K), wn.at + g * Kp);
        for (let n = 0; n < N; n++) f.set(xd.subarray((s * N + n) * K, (s * N + n + 1) * K), xp.at + n * Kp);
        matmulBias(d, G, wn, Kp, zeros, dxr, Kp, N, G, Kp); // dx = dy W
        f.fill(0, acc.at, acc.at + G * Kp);
        outerAcc(d, G, xp, Kp, acc, Kp, N, G, Kp); // dW = dy^T x
        for (let n = 0; n < N; n++) dx.set(f.subarray(dxr.at + n * Kp, dxr.at + n * Kp + K), (s * N + n) * K);
        for (let g = 0; g < G; g++) {
          dw.set(f.subarray(acc.at + g * Kp, acc.at + g * Kp + K), (s * G + g) * K);
          let sum = 0;
          for (let n = 0; n < N; n++) sum += dyd[(s * N + n) * G + g];
          db[s * G + g] = sum;
        }
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
