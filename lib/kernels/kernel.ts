/**
 * What a kernel is: the interfaces every family of kernels (op/, cpu/,
 * webgpu/) implements, from one layer's recurrence up to a whole training
 * step for a block of replicas. Types only; the choice of a kernel is
 * `lib/kernels/mod.ts` (`kernelFor`), the implementations are its sub-folders.
 */
import type { tf } from "../tf.ts";
import type { CellKind } from "../cells.ts";

/** The families of kernels: tfjs ops (the reference), CPU code with wasm SIMD matmuls, WGSL programs. */
export type Family = "op" | "cpu" | "webgpu";

/**
 * Which replicas an update applies to: one flag per replica, or a `[S]`
 * tensor of 1 (alive) and 0 that stays on the device.
 */
export type AliveMask = boolean[] | tf.Tensor1D;

/** Sizes of a layer's recurrence over a chunk: replicas, batch rows, steps, hidden units, gate rows (gates x H). */
export interface LayerDims {
  S: number;
  B: number;
  T: number;
  H: number;
  G: number;
}

/** One layer's hidden states over a chunk `[S, B, T, H]`, and its final h and (LSTM) c `[S, B, H]`. */
export interface LayerOutput {
  outputs: tf.Tensor4D;
  h: tf.Tensor3D;
  c: tf.Tensor3D | null;
}

/** The arguments of a layer's recurrence over a chunk, PyTorch's names and gate orders (i,f,g,o and r,z,n). */
export interface LayerInput {
  cell: CellKind;
  /** The input projection x W_ih^T + b_ih `[S, B, T, G]` (b_hh not folded in). */
  xp: tf.Tensor4D;
  /** State in, `[S, B, H]`. */
  h0: tf.Tensor3D;
  /** LSTM's cell state in, `[S, B, H]`; null for other cells. */
  c0: tf.Tensor3D | null;
  /** `[S, G, H]`. */
  whh: tf.Tensor3D;
  /** `[S, G]`. */
  bhh: tf.Tensor2D;
}

/** One layer's recurrence over a chunk, differentiable by tfjs (an op with its gradient, or tfjs ops). */
export type LayerKernel = (input: LayerInput) => LayerOutput;

/** x W^T + b per replica: `x` `[S, N, K]`, `w` `[S, G, K]`, `b` `[S, G]`, giving `[S, N, G]`, differentiable. */
export type LinearKernel = (x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor2D) => tf.Tensor3D;

/** An optimizer's moment buffers, one per variable, in the form its family keeps them. */
export interface Moments {
  dispose(): void;
}

/** `torch.optim.RMSprop`'s constants. */
export interface RmspropRule {
  lr: number;
  alpha: number;
  eps: number;
}

/** `torch.optim.Adam`'s constants at step t, with the bias corrections c1 = 1 - beta1^t and c2 = 1 - beta2^t. */
export interface AdamRule {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  c1: number;
  c2: number;
}

/**
 * PyTorch's RMSprop and Adam updates, in place on replica-stacked variables;
 * replicas whose `alive` entry is false (or 0) keep their parameters and moments.
 */
export interface UpdateKernel {
  zeros(vars: tf.Variable[]): Moments;
  rmsprop(vars: tf.Variable[], grads: tf.Tensor[], sq: Moments, alive: AliveMask | undefined, rule: RmspropRule): void;
  adam(
    vars: tf.Variable[],
    grads: tf.Tensor[],
    m: Moments,
    v: Moments,
    alive: AliveMask | undefined,
    rule: AdamRule,
  ): void;
}

/**
 * What a training step needs of a model: its variables, and its forward pass
 * on this kernel. A step that runs the model itself (the CPU family's wasm
 * step) also reads its shape, `SimpleRNN`'s; without it, it runs
 * `autogradStep`.
 */
export interface StepModel {
  readonly variables: tf.Variable[];
  forward(x: tf.Tensor4D, state: tf.Tensor3D[] | null): { logits: tf.Tensor4D; state: tf.Tensor3D[] };
  readonly cell?: CellKind;
  readonly hidden?: number;
  readonly layers?: number;
}

/**
 * One optimizer step handed to a training step that applies it itself: the
 * rule (Adam's bias corrections for this step) and the moments, one
 * Float32Array per variable in `variables` order, updated in place.
 */
export type OwnUpdate =
  | { kind: "rmsprop"; rule: RmspropRule; sq: Float32Array[] }
  | { kind: "adam"; rule: AdamRule; m: Float32Array[]; v: Float32Array[] };

/** What a training step needs of an optimizer. */
export interface StepOptimizer {
  step(grads: tf.Tensor[], alive?: AliveMask): void;
  /**
   * Counts one step, as `step` does, and hands over its rule and moments, for
   * a training step that applies the update itself; undefined, counting
   * nothing, where the moments are not Float32Arrays (families other than
   * the CPU's).
   */
  nextUpdate?(): OwnUpdate | undefined;
}

/** One training step's chunk, state and options. */
export interface StepInput {
  /** Inputs and targets `[S, B, T, 1]`. */
  x: tf.Tensor4D;
  y: tf.Tensor4D;
  /** State carried in from the previous chunk (null: zeros); a constant, no gradient flows into it. */
  state: tf.Tensor3D[] | null;
  /** Per-replica global gradient-norm clip; 0 or undefined: none. */
  clip?: number;
  /** From the step's per-replica loss, the replicas the update applies to (marks diverged ones). */
  live: (loss: tf.Tensor1D) => AliveMask;
  /**
   * Debug mode (the equivalence tests): called after the update with the
   * loss's gradients (in `variables` order), the gradients applied (clipped
   * where `clip` is set) and each replica's loss; freed after it returns.
   */
  onGrads?: (grads: tf.Tensor[], applied: tf.Tensor[], loss: tf.Tensor1D) => void;
}

/** One training step's results, owned by the caller. */
export interface StepOutput {
  /** Each replica's mean loss over the chunk `[S]`. */
  loss: tf.Tensor1D;
  /** Each replica's correctly predicted digits `[S]`. */
  right: tf.Tensor1D;
  /** The state to carry into the next chunk. */
  state: tf.Tensor3D[];
}

/**
 * A whole training step for a block of replicas: forward over the chunk, loss
 * and accuracy, backward, clip, optimizer update, state out.
 */
export type TrainStep = (model: StepModel, optimizer: StepOptimizer, input: StepInput) => StepOutput;

/** What a whole epoch reads of each replica's data: `lib/echo_data.ts`'s `EchoData`. */
export interface EpochData {
  readonly batchSize: number;
  readonly truncatedLength: number;
  readonly seriesLength: number;
  /** Chunks in the series. */
  readonly length: number;
  /** Chunk `index` (0 first draws a new series unless the series is fixed); the epoch calls it for chunk 0 only. */
  chunk(index: number): unknown;
  /** The current series, `[batch, series]`, one byte a bit: what `chunk` cuts its chunks from. */
  readonly xBatch: Uint8Array;
  readonly yBatch: Uint8Array;
}

/** One training epoch's data, state, options and tallies. */
export interface EpochInput {
  /** One per replica, all of one shape, with the model's input size 1. */
  datas: EpochData[];
  /** State carried in (null: zeros); owned by the caller. */
  state: tf.Tensor3D[] | null;
  /** Per-replica global gradient-norm clip; 0 or undefined: none. */
  clip?: number;
  /**
   * Replicas still training, one flag each, updated at every read: a replica whose loss is not finite is marked
   * false and keeps its parameters and moments from the step it diverged in.
   */
  alive: boolean[];
  /** Each replica's last loss while alive (NaN before its first), and its right digits this epoch: set at reads. */
  loss: number[];
  correct: number[];
  /**
   * Called after chunk `done` (1-based) once `alive`, `loss` and `correct` hold the counts up to it: every few
   * chunks (often enough for a progress bar, rarely enough to cost under 1%) and after the last.
   */
  onRead?: (done: number) => void;
}

/**
 * A whole training epoch for a block of replicas, as `trainEpoch` runs it chunk by chunk with a `TrainStep`
 * (the same data, arithmetic and order of operations), the family keeping parameters, moments, state and tallies
 * to itself between chunks. Returns the state out (owned by the caller), or null, having changed nothing, where it
 * cannot run (the caller then runs the steps). A family whose tallies are read from a device returns a promise.
 */
export type TrainEpoch = (
  model: StepModel,
  optimizer: StepOptimizer,
  input: EpochInput,
) => { state: tf.Tensor3D[] } | null | Promise<{ state: tf.Tensor3D[] } | null>;

/** A kernel: the parts a model, an optimizer and the training loop run on. */
export interface Kernel {
  /** Where the optimizer runs (and the recurrence, unless `recurrence` is "op"). */
  family: Family;
  /** Whether each layer's recurrence is one fused op ("fused") or tfjs ops ("op"); the CSV's `kernel` column. */
  recurrence: "fused" | "op";
  layer: LayerKernel;
  linear: LinearKernel;
  update: UpdateKernel;
  step: TrainStep;
  /** A whole epoch, where the family runs one (`trainEpoch` takes it unless a debug hook, `onGrads`, is set). */
  epoch?: TrainEpoch;
}
