/**
 * The CPU family's layers: the whole T-step recurrence of one layer, forward
 * and its BPTT backward, as one tfjs op with its gradient (`tf.customGrad`),
 * with replicas and batch as loop dimensions: the matmuls in SIMD wasm
 * (`simd.ts`), the gate arithmetic in loops over Float32Arrays; and x W^T + b
 * as one op. Not the optimizer (`update.ts`) nor the choice of kernel
 * (`../mod.ts`).
 *
 * Op by op, tfjs pays dispatch and tape overhead on each of the ~3T tiny ops
 * of a layer; here it pays it once. The op-level layer (`../op/layer.ts`)
 * stays the reference (tests check both give the same outputs and gradients).
 *
 * Inputs: `xp` `[S, B, T, G]` the input projection x W_ih^T + b_ih (b_hh not
 * folded in), `h0` (and `c0` for LSTM) `[S, B, H]`, `whh` `[S, G, H]`,
 * `bhh` `[S, G]`. Output `[S, B, T, H]` of hidden states (LSTM: `[S, B, T, 2H]`,
 * h then c at every step), equations and gate order as PyTorch's.
 */
import { tf } from "../../tf.ts";
import type { LayerDims as Dims, LayerInput, LayerOutput } from "../kernel.ts";
import { splitLayerOutput } from "../layer_output.ts";
import { Arena, copyRows, copyTransposed, type Mat, matmulBias, outerAcc, pad4 } from "./simd.ts";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

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
    const mem = this.m.f32;
    copyTransposed(w, mem, this.wt.at, S, G, H, Gp);
    copyRows(bh, 0, G, mem, this.bias.at, Gp, S, G);
    copyRows(h0, 0, H, mem, this.h.at, Hp, S * B, H);
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
    const { T, B, H } = this.dims, mem = this.m.f32, at = this.x.at + ((s * T + t) * B + b) * this.Hp;
    for (let j = 0; j < H; j++) mem[at + j] = src[off + j];
  }

  /** dh = d[t] W_hh (+ `plus`) for every replica and batch row: the gradient reaching step t - 1. */
  back(t: number, dh: Float64Array, plus?: Float64Array): void {
    const { S, B, H, G } = this.dims, mem = this.m.f32;
    matmulBias(S, { ...this.d, at: this.d.at + t * B * G }, this.w, this.zeros, this.dPrev, B, G, this.Hp);
    for (let sb = 0; sb < S * B; sb++) {
      const at = this.dPrev.at + sb * this.Hp;
      for (let j = 0; j < H; j++) dh[sb * H + j] = mem[at + j] + (plus ? plus[sb * H + j] : 0);
    }
  }

  /** d W_hh and d b_hh, summed over every step and row. */
  finish(): { dW: Float32Array; db: Float32Array } {
    const { S, B, T, H, G } = this.dims, mem = this.m.f32, R = T * B;
    outerAcc(S, this.d, this.x, this.acc, R, G, this.Hp);
    const dW = new Float32Array(S * G * H), db = new Float32Array(S * G);
    copyRows(mem, this.acc.at, this.Hp, dW, 0, H, S * G, H);
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < G; g++) {
        let sum = 0;
        for (let r = 0; r < R; r++) sum += mem[this.d.at + (s * R + r) * G + g];
        db[s * G + g] = sum;
      }
    }
    return { dW, db };
  }
}

function rnnKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims;
  const y = new Float32Array(S * B * T * H);
  const fw = new Forward(dims, w, bh, h0), mem = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const a = xp[row * G + j] + mem[at + j];
          mem[h + j] = y[row * H + j] = a > 0 ? a : 0;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.m.f32;
    const dh = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, d = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const g = dh[sb * H + j] + dy[row * H + j];
            mem[d + j] = dxp[row * G + j] = y[row * H + j] > 0 ? g : 0;
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
  const fw = new Forward(dims, w, bh, h0), mem = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const sb = s * B + b, row = sb * T + t, xo = row * G, o = row * 2 * H, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const inGate = sigmoid(xp[xo + j] + mem[at + j]);
          const forget = sigmoid(xp[xo + H + j] + mem[at + H + j]);
          const candidate = Math.tanh(xp[xo + 2 * H + j] + mem[at + 2 * H + j]);
          const outGate = sigmoid(xp[xo + 3 * H + j] + mem[at + 3 * H + j]);
          const cell = forget * cPrev[sb * H + j] + inGate * candidate;
          const tanhCell = Math.tanh(cell);
          acts[xo + j] = inGate;
          acts[xo + H + j] = forget;
          acts[xo + 2 * H + j] = candidate;
          acts[xo + 3 * H + j] = outGate;
          tanhC[row * H + j] = tanhCell;
          mem[h + j] = y[o + j] = outGate * tanhCell;
          y[o + H + j] = cell;
          cPrev[sb * H + j] = cell;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H), dc0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.m.f32;
    const dh = new Float64Array(S * B * H), dc = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, xo = row * G, o = row * 2 * H, d = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const inGate = acts[xo + j],
              forget = acts[xo + H + j],
              candidate = acts[xo + 2 * H + j],
              outGate = acts[xo + 3 * H + j];
            const tanhCell = tanhC[row * H + j];
            const cellPrev = t > 0 ? y[o - H + j] : c0[sb * H + j];
            const dhStep = dh[sb * H + j] + dy[o + j];
            const dcStep = dc[sb * H + j] + dy[o + H + j] + dhStep * outGate * (1 - tanhCell * tanhCell);
            mem[d + j] = dxp[xo + j] = dcStep * candidate * inGate * (1 - inGate);
            mem[d + H + j] = dxp[xo + H + j] = dcStep * cellPrev * forget * (1 - forget);
            mem[d + 2 * H + j] = dxp[xo + 2 * H + j] = dcStep * inGate * (1 - candidate * candidate);
            mem[d + 3 * H + j] = dxp[xo + 3 * H + j] = dhStep * tanhCell * outGate * (1 - outGate);
            dc[sb * H + j] = dcStep * forget;
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
  const fw = new Forward(dims, w, bh, h0), mem = fw.m.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, xo = row * G, ao = row * 4 * H, at = fw.outAt(s, b), h = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const r = sigmoid(xp[xo + j] + mem[at + j]);
          const z = sigmoid(xp[xo + H + j] + mem[at + H + j]);
          const hn = mem[at + 2 * H + j];
          const n = Math.tanh(xp[xo + 2 * H + j] + r * hn);
          acts[ao + j] = r;
          acts[ao + H + j] = z;
          acts[ao + 2 * H + j] = n;
          acts[ao + 3 * H + j] = hn;
          mem[h + j] = y[row * H + j] = (1 - z) * n + z * mem[h + j];
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.m.f32;
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
            mem[d + j] = dxp[xo + j] = dar;
            mem[d + H + j] = dxp[xo + H + j] = daz;
            dxp[xo + 2 * H + j] = dan;
            mem[d + 2 * H + j] = dan * r;
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
export function cpuLinear(x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor2D): tf.Tensor3D {
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
      const mem = m.f32;
      mem.set(xd, xr.at);
      copyTransposed(wd, mem, wt.at, S, G, K, Gp);
      copyRows(bd, 0, G, mem, bias.at, Gp, S, G);
      matmulBias(S, xr, wt, bias, out, N, K, Gp);
      copyRows(mem, out.at, Gp, y, 0, G, S * N, G);
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
      const mem = m.f32;
      mem.set(dyd, d.at);
      copyRows(wd, 0, K, mem, wn.at, Kp, S * G, K);
      copyRows(xd, 0, K, mem, xp.at, Kp, S * N, K);
      matmulBias(S, d, wn, zeros, dxr, N, G, Kp); // dx = dy W
      outerAcc(S, d, xp, acc, N, G, Kp); // dW = dy^T x
      copyRows(mem, dxr.at, Kp, dx, 0, K, S * N, K);
      copyRows(mem, acc.at, Kp, dw, 0, K, S * G, K);
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
 * gradient (see {@linkcode LayerInput}).
 */
export function cpuLayer({ cell, xp, h0, c0, whh, bhh }: LayerInput): LayerOutput {
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
      return [
        tf.tensor4d(g.dxp, [S, B, T, G]),
        tf.tensor3d(g.dh0, [S, B, H]),
        ...(lstm ? [tf.tensor3d(g.dc0!, [S, B, H])] : []),
        tf.tensor3d(g.dW, [S, G, H]),
        tf.tensor2d(g.db, [S, G]),
      ];
    };
    return { value, gradFunc };
  });
  const inputs = lstm ? [xp, h0, c0!, whh, bhh] : [xp, h0, whh, bhh];
  return splitLayerOutput((op as (...t: tf.Tensor[]) => tf.Tensor4D)(...inputs), H, lstm);
}
