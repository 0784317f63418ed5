/**
 * The notebook's model, `SimpleRNN`, with a leading replica axis: its
 * parameters (PyTorch's names, shapes and initialisation) and its forward
 * pass, whose recurrence runs on the kernel `lib/kernels/mod.ts` chooses.
 * Not the kernels themselves (lib/kernels/), nor training (lib/train.ts).
 */
import { tf, variableFrom } from "./tf.ts";
import { Rng } from "./rng.ts";
import { type CellKind, GATES } from "./cells.ts";
import { type KernelChoice, kernelFor, type KernelKind } from "./kernels/mod.ts";

export { type CellKind, CELLS } from "./cells.ts";
export { type KernelKind, KERNELS } from "./kernels/mod.ts";

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
  /** The `--kernel` choice (lib/kernels/mod.ts). Default "auto". */
  kernel?: KernelKind;
}

/**
 * Recurrent state, one `[S, B, H]` tensor per layer (LSTM: h of every layer,
 * then c of every layer). `null` means zeros, as PyTorch's `hidden=None`.
 */
export type State = tf.Tensor3D[] | null;

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
  #choice: { backend: string; kernel: KernelKind; choice: KernelChoice } | null = null;

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

  /** The kernel this model runs on the active backend, and why (lib/kernels/mod.ts). */
  kernelChoice(): KernelChoice {
    const backend = tf.getBackend();
    if (this.#choice?.backend !== backend || this.#choice.kernel !== this.kernel) {
      const q = { backend, kernel: this.kernel, cell: this.cell, hidden: this.hidden, layers: this.layers };
      this.#choice = { backend, kernel: this.kernel, choice: kernelFor(q) };
    }
    return this.#choice.choice;
  }

  /**
   * Runs the sequence `x` `[S, B, T, in]` from `state` and returns the logits
   * `[S, B, T, 1]` and the final state.
   */
  forward(x: tf.Tensor4D, state: State): { logits: tf.Tensor4D; state: tf.Tensor3D[] } {
    const [S, B, T] = x.shape;
    const H = this.hidden;
    const { layer, linear } = this.kernelChoice().kernel;
    const s0 = state ?? this.zeroState(B);
    const finals: tf.Tensor3D[] = [];
    const finalCells: tf.Tensor3D[] = [];
    let input: tf.Tensor4D = x;
    for (let l = 0; l < this.layers; l++) {
      const param = (n: string) => this.params.get(`rnn.${n}_l${l}`)!;
      const whh = param("weight_hh") as tf.Tensor3D, bhh = param("bias_hh") as tf.Tensor2D;
      const G = whh.shape[1];
      // The input projection of every step in one matmul; it does not depend on h.
      const flat = tf.reshape(input, [S, B * T, input.shape[3]]) as tf.Tensor3D;
      const projected = linear(flat, param("weight_ih") as tf.Tensor3D, param("bias_ih") as tf.Tensor2D);
      const xp = tf.reshape(projected, [S, B, T, G]) as tf.Tensor4D;
      const c0 = this.cell === "lstm" ? s0[this.layers + l] : null;
      const out = layer({ cell: this.cell, xp, h0: s0[l], c0, whh, bhh });
      input = out.outputs;
      finals.push(out.h);
      if (out.c) finalCells.push(out.c);
    }
    const w = this.params.get("linear.weight")! as tf.Tensor3D;
    const b = this.params.get("linear.bias")! as tf.Tensor2D;
    const logits = tf.reshape(linear(tf.reshape(input, [S, B * T, H]) as tf.Tensor3D, w, b), [S, B, T, 1]);
    return { logits: logits as tf.Tensor4D, state: [...finals, ...finalCells] };
  }

  /** Whether forward runs fused layers now (depends on the active backend). */
  usesFusedKernel(): boolean {
    return this.kernelChoice().kernel.recurrence === "fused";
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
