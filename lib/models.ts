import { tf, variableFrom } from "./tf.ts";
import { Rng } from "./rng.ts";
import { CPU_BACKENDS, fusedLayer, fusedLinear } from "./fused.ts";
import { WEBGPU_MAX_HIDDEN, webgpuLayer } from "./fused_webgpu.ts";
import { type CellKind, GATES } from "./cells.ts";

/** Backends with fused sequence kernels: the CPU ones (lib/fused.ts) and webgpu (lib/fused_webgpu.ts). */
export const FUSED_BACKENDS = new Set([...CPU_BACKENDS, "webgpu"]);

export { type CellKind, CELLS } from "./cells.ts";

/**
 * How a layer's recurrence runs: `fused` as one op per layer (lib/fused.ts on
 * CPU backends, lib/fused_webgpu.ts on webgpu), `op` op by op (the reference),
 * `auto` fused on the backends in {@linkcode FUSED_BACKENDS}.
 */
export const KERNELS = ["auto", "fused", "op"] as const;
export type KernelKind = typeof KERNELS[number];

/** Options of {@linkcode SimpleRNN}. */
export interface ModelOptions {
  /** Recurrent cell. Default "rnn" (the notebook's ReLU RNN). */
  cell?: CellKind;
  /** Hidden units H per layer. */
  hidden: number;
  /** Stacked recurrent layers. Default 1. */
  layers?: number;
  /** Features per input step. Default 1. */
  inputSize?: number;
  /** One seed per replica; the replica count is its length. */
  seeds: number[];
  /** Scale of the identity recurrent matrix of `irnn`. Default 1. */
  identityScale?: number;
  /** Fused or op-level recurrence. Default "auto". */
  kernel?: KernelKind;
}

/**
 * Recurrent state, one `[S, B, H]` tensor per layer (LSTM: h of every layer,
 * then c of every layer). `null` means zeros, as PyTorch's `hidden=None`.
 */
export type State = tf.Tensor3D[] | null;

/** x W^T + b per replica (`x` `[S, N, K]`, `w` `[S, G, K]`, `b` `[S, G]`): fused, or as tfjs ops. */
function linear(x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor2D, fused: boolean): tf.Tensor3D {
  if (fused) return fusedLinear(x, w, b);
  const [S, G] = b.shape;
  return tf.add(tf.matMul(x, w, false, true), tf.reshape(b, [S, 1, G]));
}

/**
 * The recurrence a model of `hidden` units runs with `--kernel kernel` on
 * `backend` (a tfjs backend name, or `auto` before one is loaded, assumed to
 * end on a backend with fused kernels): `fused` and `op` as asked; `auto`
 * fuses on cpu, wasm and webgpu, except that the WGSL kernels run one thread
 * per hidden unit, up to {@linkcode WEBGPU_MAX_HIDDEN}, so larger H runs op by
 * op there; native backends run op by op.
 */
export function kernelThatRuns(kernel: KernelKind, backend: string, hidden: number): "fused" | "op" {
  if (kernel !== "auto") return kernel;
  if (backend === "auto") return "fused";
  return FUSED_BACKENDS.has(backend) && !(backend === "webgpu" && hidden > WEBGPU_MAX_HIDDEN) ? "fused" : "op";
}

/**
 * The notebook's `SimpleRNN`: `layers` stacked recurrent layers of `hidden`
 * units, batch-first, then `Linear(hidden, 1)` giving one logit per step.
 *
 * Written at the op level with PyTorch's equations and initialisation (every
 * recurrent weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), the Linear weight and
 * bias ~ U(-1/sqrt(H), 1/sqrt(H))). Every parameter carries a leading replica
 * axis S: `params.get("rnn.weight_hh_l0")` is `[S, H, H]`, named as in
 * PyTorch, so S independent models train in one batched computation.
 */
export class SimpleRNN {
  readonly cell: CellKind;
  readonly hidden: number;
  readonly layers: number;
  readonly inputSize: number;
  readonly replicas: number;
  kernel: KernelKind;
  readonly params = new Map<string, tf.Variable>();

  constructor(opts: ModelOptions) {
    this.cell = opts.cell ?? "rnn";
    this.hidden = opts.hidden;
    this.layers = opts.layers ?? 1;
    this.inputSize = opts.inputSize ?? 1;
    this.replicas = opts.seeds.length;
    this.kernel = opts.kernel ?? "auto";
    const H = this.hidden, G = GATES[this.cell] * H;
    const shapes: [string, number[]][] = [];
    for (let l = 0; l < this.layers; l++) {
      shapes.push(
        [`rnn.weight_ih_l${l}`, [G, l === 0 ? this.inputSize : H]],
        [`rnn.weight_hh_l${l}`, [G, H]],
        [`rnn.bias_ih_l${l}`, [G]],
        [`rnn.bias_hh_l${l}`, [G]],
      );
    }
    shapes.push(["linear.weight", [1, H]], ["linear.bias", [1]]);
    const rngs = opts.seeds.map((s) => Rng.derive(s, "init"));
    for (const [name, shape] of shapes) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(this.replicas * size);
      rngs.forEach((rng, r) => {
        const slice = data.subarray(r * size, (r + 1) * size);
        initParam(this.cell, name, shape, H, rng, opts.identityScale ?? 1, slice);
      });
      this.params.set(name, variableFrom(tf.tensor(data, [this.replicas, ...shape]), true));
    }
  }

  /** Trainable numbers of one replica (PyTorch's count: 33 for rnn, H 4, one layer). */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size / this.replicas;
    return n;
  }

  /** The parameters in a fixed order, for optimizers and gradients. */
  get variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** Zeros for every state tensor, as PyTorch's `hidden=None`. */
  zeroState(batch: number): tf.Tensor3D[] {
    const n = this.cell === "lstm" ? 2 * this.layers : this.layers;
    return Array.from({ length: n }, () => tf.zeros([this.replicas, batch, this.hidden]) as tf.Tensor3D);
  }

  /** Overwrites replica `r` of parameter `name` (PyTorch layout, row-major), on the device, reading nothing back. */
  setParam(name: string, r: number, data: ArrayLike<number>): void {
    const v = this.params.get(name);
    if (!v) throw new Error(`SimpleRNN: no parameter ${name}`);
    const size = v.size / this.replicas;
    if (data.length !== size) throw new Error(`SimpleRNN: ${name} takes ${size} numbers, got ${data.length}`);
    tf.tidy(() => {
      const pick = tf.tensor(Array.from({ length: this.replicas }, (_, k) => k === r), [this.replicas], "bool");
      const mask = tf.broadcastTo(tf.reshape(pick, [this.replicas, ...v.shape.slice(1).map(() => 1)]), v.shape);
      const row = tf.broadcastTo(tf.tensor(Array.from(data), [1, ...v.shape.slice(1)]), v.shape);
      v.assign(tf.where(mask, row, v));
    });
  }

  /**
   * Runs the sequence `x` `[S, B, T, in]` from `state` and returns the logits
   * `[S, B, T, 1]` and the final state.
   */
  forward(x: tf.Tensor4D, state: State): { logits: tf.Tensor4D; state: tf.Tensor3D[] } {
    const [S, B, T] = x.shape;
    const H = this.hidden;
    const s0 = state ?? this.zeroState(B);
    const fused = this.usesFusedKernel();
    const gpu = fused && tf.getBackend() === "webgpu";
    const layer = gpu ? webgpuLayer : fusedLayer;
    const finals: tf.Tensor3D[] = [];
    const finalCells: tf.Tensor3D[] = [];
    let input: tf.Tensor4D = x;
    for (let l = 0; l < this.layers; l++) {
      const p = (n: string) => this.params.get(`rnn.${n}_l${l}`)!;
      const wih = p("weight_ih"), whh = p("weight_hh"), bih = p("bias_ih"), bhh = p("bias_hh");
      const inSize = input.shape[3];
      const G = whh.shape[1] as number;
      // The input projection of every step in one matmul; it does not depend on h.
      const flat = tf.reshape(input, [S, B * T, inSize]) as tf.Tensor3D;
      const xpFlat = linear(flat, wih as tf.Tensor3D, bih as tf.Tensor2D, fused && !gpu);
      let xp = tf.reshape(xpFlat, [S, B, T, G]) as tf.Tensor4D;
      const bh = tf.reshape(bhh, [S, 1, G]);
      if (fused) {
        const c0 = this.cell === "lstm" ? s0[this.layers + l] : null;
        const y = layer(this.cell, xp, s0[l], c0, whh as tf.Tensor3D, bhh as tf.Tensor2D);
        input = tf.slice(y, [0, 0, 0, 0], [S, B, T, H]);
        finals.push(tf.reshape(tf.slice(y, [0, 0, T - 1, 0], [S, B, 1, H]), [S, B, H]));
        if (c0) finalCells.push(tf.reshape(tf.slice(y, [0, 0, T - 1, H], [S, B, 1, H]), [S, B, H]));
        continue;
      }
      if (this.cell !== "gru") xp = tf.add(xp, tf.reshape(bh, [S, 1, 1, G])); // b_hh folds in except for GRU's n gate
      // tfjs's Unpack gradient breaks on a single output, hence the reshape for T = 1.
      const steps = T === 1 ? [tf.reshape(xp, [S, B, G]) as tf.Tensor3D] : tf.unstack(xp, 2) as tf.Tensor3D[];
      let h = s0[l];
      let c = this.cell === "lstm" ? s0[this.layers + l] : h;
      const outs: tf.Tensor3D[] = [];
      for (const xt of steps) {
        const hh = tf.matMul(h, whh as tf.Tensor3D, false, true);
        if (this.cell === "rnn" || this.cell === "irnn") {
          h = tf.relu(tf.add(xt, hh));
        } else if (this.cell === "lstm") {
          const [i, f, g, o] = tf.split(tf.add(xt, hh), 4, 2);
          c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
          h = tf.mul(tf.sigmoid(o), tf.tanh(c));
        } else {
          const [xr, xz, xn] = tf.split(xt, 3, 2);
          const [hr, hz, hn] = tf.split(tf.add(hh, bh), 3, 2);
          const r = tf.sigmoid(tf.add(xr, hr));
          const z = tf.sigmoid(tf.add(xz, hz));
          const n = tf.tanh(tf.add(xn, tf.mul(r, hn)));
          h = tf.add(n, tf.mul(z, tf.sub(h, n))); // (1 - z) * n + z * h
        }
        outs.push(h);
      }
      finals.push(h);
      if (this.cell === "lstm") finalCells.push(c);
      input = (T === 1 ? tf.expandDims(outs[0], 2) : tf.stack(outs, 2)) as tf.Tensor4D;
    }
    const w = this.params.get("linear.weight")! as tf.Tensor3D;
    const b = this.params.get("linear.bias")! as tf.Tensor2D;
    const logits = tf.reshape(linear(tf.reshape(input, [S, B * T, H]), w, b, fused && !gpu), [S, B, T, 1]);
    return { logits: logits as tf.Tensor4D, state: [...finals, ...finalCells] };
  }

  /** Whether forward runs the fused kernels now (depends on the active backend). */
  usesFusedKernel(): boolean {
    return kernelThatRuns(this.kernel, tf.getBackend(), this.hidden) === "fused";
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}

function initParam(
  cell: CellKind,
  name: string,
  shape: number[],
  hidden: number,
  rng: Rng,
  identityScale: number,
  out: Float32Array,
): void {
  if (cell === "irnn" && name.startsWith("rnn.bias")) return; // zeros
  if (cell === "irnn" && name.startsWith("rnn.weight_hh")) {
    for (let i = 0; i < shape[0]; i++) out[i * shape[1] + i] = identityScale;
    return;
  }
  // PyTorch: RNN/LSTM/GRU draw every weight and bias from U(-1/sqrt(H), 1/sqrt(H));
  // Linear(H, 1) draws weight and bias from U(-1/sqrt(fan_in)), and fan_in is H too.
  const bound = 1 / Math.sqrt(hidden);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-bound, bound);
}
