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
// in SIMD wasm (simd.ts), one call per step for every replica and batch
// row; the gate arithmetic stays here. Loops run step, replica, batch row.

/** Wasm buffers of a forward pass: W_hh^T `[S, H, Gp]`, b_hh, h `[S, B, Hp]`, h W_hh^T + b_hh `[S, B, Gp]`. */
class Forward {
  readonly arena = new Arena();
  readonly Hp: number;
  readonly Gp: number;
  readonly wt: Mat;
  readonly bias: Mat;
  readonly h: Mat;
  readonly out: Mat;

  constructor(readonly dims: Dims, w: Float32Array, bh: Float32Array, h0: Float32Array) {
    const { S, B, H, G } = dims;
    const [Hp, Gp] = [this.Hp, this.Gp] = [pad4(H), pad4(G)];
    this.wt = { at: this.arena.alloc(S * H * Gp), rs: H * Gp, stride: Gp };
    this.bias = { at: this.arena.alloc(S * Gp), rs: Gp, stride: 0 };
    this.h = { at: this.arena.alloc(S * B * Hp), rs: B * Hp, stride: Hp };
    this.out = { at: this.arena.alloc(S * B * Gp), rs: B * Gp, stride: Gp };
    const mem = this.arena.f32;
    copyTransposed({ src: w, dst: mem, dstAt: this.wt.at, replicas: S, rows: G, cols: H, dstStride: Gp });
    copyRows({ src: bh, srcStride: G, dst: mem, dstAt: this.bias.at, dstStride: Gp, rows: S, width: G });
    copyRows({ src: h0, srcStride: H, dst: mem, dstAt: this.h.at, dstStride: Hp, rows: S * B, width: H });
  }

  /** Where h of replica s, row b starts in `arena.f32`. */
  hAt(s: number, b: number): number {
    return this.h.at + (s * this.dims.B + b) * this.Hp;
  }

  /** Where h W_hh^T + b_hh of replica s, row b starts in `arena.f32`. */
  outAt(s: number, b: number): number {
    return this.out.at + (s * this.dims.B + b) * this.Gp;
  }

  /** out = h W_hh^T + b_hh for every replica and batch row. */
  step(): void {
    const { S, B, H } = this.dims;
    matmulBias({
      replicas: S,
      a: this.h,
      w: this.wt,
      bias: this.bias,
      out: this.out,
      rows: B,
      inner: H,
      width: this.Gp,
    });
  }
}

/**
 * Wasm buffers of a backward pass: W_hh `[S, G, Hp]`, the gate gradients `d`
 * `[S, T, B, G]` and previous states `x` `[S, T, B, Hp]` of every step, d W_hh.
 */
class Backward {
  readonly arena = new Arena();
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
    this.w = { at: this.arena.alloc(S * G * Hp), rs: G * Hp, stride: Hp };
    this.zeros = { at: this.arena.alloc(Hp), rs: 0, stride: 0 };
    this.d = { at: this.arena.alloc(S * T * B * G), rs: T * B * G, stride: G };
    this.x = { at: this.arena.alloc(S * T * B * Hp), rs: T * B * Hp, stride: Hp };
    this.dPrev = { at: this.arena.alloc(S * B * Hp), rs: B * Hp, stride: Hp };
    this.acc = { at: this.arena.alloc(S * G * Hp), rs: G * Hp, stride: Hp };
    copyRows({ src: whh, srcStride: H, dst: this.arena.f32, dstAt: this.w.at, dstStride: Hp, rows: S * G, width: H });
  }

  /** Where the gate gradient d of replica s, step t, row b starts in `arena.f32`. */
  dAt(s: number, t: number, b: number): number {
    const { T, B, G } = this.dims;
    return this.d.at + ((s * T + t) * B + b) * G;
  }

  /** x[s, t, b] = the state that step read: src[srcAt .. srcAt + H]. */
  setX(s: number, t: number, b: number, src: ArrayLike<number>, srcAt: number): void {
    const { T, B, H } = this.dims, mem = this.arena.f32, xAt = this.x.at + ((s * T + t) * B + b) * this.Hp;
    for (let j = 0; j < H; j++) mem[xAt + j] = src[srcAt + j];
  }

  /** dh = d[t] W_hh (+ `plus`) for every replica and batch row: the gradient reaching step t - 1. */
  back(t: number, dh: Float64Array, plus?: Float64Array): void {
    const { S, B, H, G } = this.dims, mem = this.arena.f32;
    const dStep = { ...this.d, at: this.d.at + t * B * G };
    matmulBias({
      replicas: S,
      a: dStep,
      w: this.w,
      bias: this.zeros,
      out: this.dPrev,
      rows: B,
      inner: G,
      width: this.Hp,
    });
    for (let sb = 0; sb < S * B; sb++) {
      const dPrevAt = this.dPrev.at + sb * this.Hp;
      for (let j = 0; j < H; j++) dh[sb * H + j] = mem[dPrevAt + j] + (plus ? plus[sb * H + j] : 0);
    }
  }

  /** d W_hh and d b_hh, summed over every step and row. */
  finish(): { dW: Float32Array; db: Float32Array } {
    const { S, B, T, H, G } = this.dims, mem = this.arena.f32, rows = T * B;
    outerAcc({ replicas: S, d: this.d, x: this.x, acc: this.acc, rows, accRows: G, width: this.Hp });
    const dW = new Float32Array(S * G * H), db = new Float32Array(S * G);
    copyRows({ src: mem, srcAt: this.acc.at, srcStride: this.Hp, dst: dW, dstStride: H, rows: S * G, width: H });
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < G; g++) {
        let sum = 0;
        for (let r = 0; r < rows; r++) sum += mem[this.d.at + (s * rows + r) * G + g];
        db[s * G + g] = sum;
      }
    }
    return { dW, db };
  }
}

function rnnKernel(dims: Dims, xp: Float32Array, h0: Float32Array, w: Float32Array, bh: Float32Array) {
  const { S, B, T, H, G } = dims;
  const y = new Float32Array(S * B * T * H);
  const fw = new Forward(dims, w, bh, h0), mem = fw.arena.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, outAt = fw.outAt(s, b), hAt = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const pre = xp[row * G + j] + mem[outAt + j];
          mem[hAt + j] = y[row * H + j] = pre > 0 ? pre : 0;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.arena.f32;
    const dh = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, dAt = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const dhStep = dh[sb * H + j] + dy[row * H + j];
            mem[dAt + j] = dxp[row * G + j] = y[row * H + j] > 0 ? dhStep : 0;
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
  const fw = new Forward(dims, w, bh, h0), mem = fw.arena.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const sb = s * B + b, row = sb * T + t, gateAt = row * G, yAt = row * 2 * H;
        const outAt = fw.outAt(s, b), hAt = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const inGate = sigmoid(xp[gateAt + j] + mem[outAt + j]);
          const forget = sigmoid(xp[gateAt + H + j] + mem[outAt + H + j]);
          const candidate = Math.tanh(xp[gateAt + 2 * H + j] + mem[outAt + 2 * H + j]);
          const outGate = sigmoid(xp[gateAt + 3 * H + j] + mem[outAt + 3 * H + j]);
          const cell = forget * cPrev[sb * H + j] + inGate * candidate;
          const tanhCell = Math.tanh(cell);
          acts[gateAt + j] = inGate;
          acts[gateAt + H + j] = forget;
          acts[gateAt + 2 * H + j] = candidate;
          acts[gateAt + 3 * H + j] = outGate;
          tanhC[row * H + j] = tanhCell;
          mem[hAt + j] = y[yAt + j] = outGate * tanhCell;
          y[yAt + H + j] = cell;
          cPrev[sb * H + j] = cell;
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H), dc0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.arena.f32;
    const dh = new Float64Array(S * B * H), dc = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, gateAt = row * G, yAt = row * 2 * H, dAt = bw.dAt(s, t, b);
          for (let j = 0; j < H; j++) {
            const inGate = acts[gateAt + j],
              forget = acts[gateAt + H + j],
              candidate = acts[gateAt + 2 * H + j],
              outGate = acts[gateAt + 3 * H + j];
            const tanhCell = tanhC[row * H + j];
            const cellPrev = t > 0 ? y[yAt - H + j] : c0[sb * H + j];
            const dhStep = dh[sb * H + j] + dy[yAt + j];
            const dcStep = dc[sb * H + j] + dy[yAt + H + j] + dhStep * outGate * (1 - tanhCell * tanhCell);
            mem[dAt + j] = dxp[gateAt + j] = dcStep * candidate * inGate * (1 - inGate);
            mem[dAt + H + j] = dxp[gateAt + H + j] = dcStep * cellPrev * forget * (1 - forget);
            mem[dAt + 2 * H + j] = dxp[gateAt + 2 * H + j] = dcStep * inGate * (1 - candidate * candidate);
            mem[dAt + 3 * H + j] = dxp[gateAt + 3 * H + j] = dhStep * tanhCell * outGate * (1 - outGate);
            dc[sb * H + j] = dcStep * forget;
          }
          if (t > 0) bw.setX(s, t, b, y, yAt - 2 * H);
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
  const { S, B, T, H, G } = dims; // G = 3H, gates r (reset), z (update), n (candidate)
  const y = new Float32Array(S * B * T * H);
  const acts = new Float64Array(S * B * T * 4 * H); // r, z, n, hn = W_hn h + b_hn
  const fw = new Forward(dims, w, bh, h0), mem = fw.arena.f32;
  for (let t = 0; t < T; t++) {
    fw.step();
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < B; b++) {
        const row = (s * B + b) * T + t, gateAt = row * G, actAt = row * 4 * H;
        const outAt = fw.outAt(s, b), hAt = fw.hAt(s, b);
        for (let j = 0; j < H; j++) {
          const reset = sigmoid(xp[gateAt + j] + mem[outAt + j]);
          const update = sigmoid(xp[gateAt + H + j] + mem[outAt + H + j]);
          const hn = mem[outAt + 2 * H + j];
          const candidate = Math.tanh(xp[gateAt + 2 * H + j] + reset * hn);
          acts[actAt + j] = reset;
          acts[actAt + H + j] = update;
          acts[actAt + 2 * H + j] = candidate;
          acts[actAt + 3 * H + j] = hn;
          mem[hAt + j] = y[row * H + j] = (1 - update) * candidate + update * mem[hAt + j];
        }
      }
    }
  }
  const backward = (dy: Float32Array) => {
    const dxp = new Float32Array(S * B * T * G), dh0 = new Float32Array(S * B * H);
    const bw = new Backward(dims, w), mem = bw.arena.f32;
    // dhThroughUpdate: the part of the gradient reaching h_{t-1} directly, through z h_{t-1} (not through W_hh).
    const dh = new Float64Array(S * B * H), dhThroughUpdate = new Float64Array(S * B * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < S; s++) {
        for (let b = 0; b < B; b++) {
          const sb = s * B + b, row = sb * T + t, gateAt = row * G, actAt = row * 4 * H, dAt = bw.dAt(s, t, b);
          const [hPrev, hPrevAt] = t > 0 ? [y, (row - 1) * H] as const : [h0, sb * H] as const;
          for (let j = 0; j < H; j++) {
            const reset = acts[actAt + j],
              update = acts[actAt + H + j],
              candidate = acts[actAt + 2 * H + j],
              hn = acts[actAt + 3 * H + j];
            const dhStep = dh[sb * H + j] + dy[row * H + j];
            // Gradients of the gates' pre-activations.
            const dCandidate = dhStep * (1 - update) * (1 - candidate * candidate);
            const dUpdate = dhStep * (hPrev[hPrevAt + j] - candidate) * update * (1 - update);
            const dReset = dCandidate * hn * reset * (1 - reset);
            mem[dAt + j] = dxp[gateAt + j] = dReset;
            mem[dAt + H + j] = dxp[gateAt + H + j] = dUpdate;
            dxp[gateAt + 2 * H + j] = dCandidate;
            mem[dAt + 2 * H + j] = dCandidate * reset;
            dhThroughUpdate[sb * H + j] = dhStep * update;
          }
          bw.setX(s, t, b, hPrev, hPrevAt);
        }
      }
      bw.back(t, dh, dhThroughUpdate);
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
    const [xData, wData, bData] = (args.slice(0, 3) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
    const y = new Float32Array(S * N * G);
    {
      const arena = new Arena();
      const xIn: Mat = { at: arena.alloc(S * N * K), rs: N * K, stride: K };
      const wt: Mat = { at: arena.alloc(S * K * Gp), rs: K * Gp, stride: Gp };
      const bias: Mat = { at: arena.alloc(S * Gp), rs: Gp, stride: 0 };
      const out: Mat = { at: arena.alloc(S * N * Gp), rs: N * Gp, stride: Gp };
      const mem = arena.f32;
      mem.set(xData, xIn.at);
      copyTransposed({ src: wData, dst: mem, dstAt: wt.at, replicas: S, rows: G, cols: K, dstStride: Gp });
      copyRows({ src: bData, srcStride: G, dst: mem, dstAt: bias.at, dstStride: Gp, rows: S, width: G });
      matmulBias({ replicas: S, a: xIn, w: wt, bias, out, rows: N, inner: K, width: Gp });
      copyRows({ src: mem, srcAt: out.at, srcStride: Gp, dst: y, dstStride: G, rows: S * N, width: G });
    }
    const gradFunc = (dy: tf.Tensor) => {
      const dyData = dy.dataSync() as Float32Array;
      const dx = new Float32Array(S * N * K), dw = new Float32Array(S * G * K), db = new Float32Array(S * G);
      const arena = new Arena();
      const dyIn: Mat = { at: arena.alloc(S * N * G), rs: N * G, stride: G };
      const wPadded: Mat = { at: arena.alloc(S * G * Kp), rs: G * Kp, stride: Kp };
      const zeros: Mat = { at: arena.alloc(Kp), rs: 0, stride: 0 };
      const xPadded: Mat = { at: arena.alloc(S * N * Kp), rs: N * Kp, stride: Kp };
      const dxOut: Mat = { at: arena.alloc(S * N * Kp), rs: N * Kp, stride: Kp };
      const dwAcc: Mat = { at: arena.alloc(S * G * Kp), rs: G * Kp, stride: Kp };
      const mem = arena.f32;
      mem.set(dyData, dyIn.at);
      copyRows({ src: wData, srcStride: K, dst: mem, dstAt: wPadded.at, dstStride: Kp, rows: S * G, width: K });
      copyRows({ src: xData, srcStride: K, dst: mem, dstAt: xPadded.at, dstStride: Kp, rows: S * N, width: K });
      // dx = dy W; dW = dy^T x
      matmulBias({ replicas: S, a: dyIn, w: wPadded, bias: zeros, out: dxOut, rows: N, inner: G, width: Kp });
      outerAcc({ replicas: S, d: dyIn, x: xPadded, acc: dwAcc, rows: N, accRows: G, width: Kp });
      copyRows({ src: mem, srcAt: dxOut.at, srcStride: Kp, dst: dx, dstStride: K, rows: S * N, width: K });
      copyRows({ src: mem, srcAt: dwAcc.at, srcStride: Kp, dst: dw, dstStride: K, rows: S * G, width: K });
      for (let sg = 0; sg < S * G; sg++) {
        const [s, g] = [Math.floor(sg / G), sg % G];
        let sum = 0;
        for (let n = 0; n < N; n++) sum += dyData[(s * N + n) * G + g];
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
    const run = cell === "lstm"
      ? lstmKernel(dims, data(x), data(h), data(c), data(w), data(b))
      : cell === "gru"
      ? gruKernel(dims, data(x), data(h), data(w), data(b))
      : rnnKernel(dims, data(x), data(h), data(w), data(b));
    const value = tf.tensor4d(run.y, [S, B, T, lstm ? 2 * H : H]);
    const gradFunc = (dy: tf.Tensor) => {
      const grads = run.backward(dy.dataSync() as Float32Array);
      return [
        tf.tensor4d(grads.dxp, [S, B, T, G]),
        tf.tensor3d(grads.dh0, [S, B, H]),
        ...(lstm ? [tf.tensor3d(grads.dc0!, [S, B, H])] : []),
        tf.tensor3d(grads.dW, [S, G, H]),
        tf.tensor2d(grads.db, [S, G]),
      ];
    };
    return { value, gradFunc };
  });
  const inputs = lstm ? [xp, h0, c0!, whh, bhh] : [xp, h0, whh, bhh];
  return splitLayerOutput((op as (...t: tf.Tensor[]) => tf.Tensor4D)(...inputs), H, lstm);
}
