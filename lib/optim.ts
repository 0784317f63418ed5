/**
 * The optimizers the notebook uses, with PyTorch's rules and defaults:
 * `RMSprop` (the notebook's) and `Adam`, over replica-stacked variables.
 * Each holds its constants and moments; the arithmetic of an update runs on
 * the kernel family `lib/kernels/mod.ts` chooses (tfjs ops, CPU loops or
 * WGSL). Not the gradient clipping (part of the training step, in
 * lib/kernels/op/step.ts, re-exported here).
 */
import { tf } from "./tf.ts";
import {
  type AliveMask,
  kernelFor,
  type KernelKind,
  momentArrays,
  type Moments,
  type OwnUpdate,
  type UpdateKernel,
} from "./kernels/mod.ts";

export { type AliveMask, clipGradNorm } from "./kernels/mod.ts";

/** Optimizers the suite implements with PyTorch's update rules. */
export const OPTIMIZERS = ["rmsprop", "adam"] as const;
export type OptimizerName = typeof OPTIMIZERS[number];

/** An optimizer over replica-stacked variables (leading axis S). */
export interface Optimizer {
  /**
   * Applies one update from `grads` (same order as the variables). Replicas
   * whose `alive` entry is false (or 0) keep their parameters and moments.
   */
  step(grads: tf.Tensor[], alive?: AliveMask): void;
  dispose(): void;
}

/** The `--kernel` choice for an optimizer: fused (CPU loops or WGSL programs), tfjs ops, or auto. */
export type OptimizerKernel = KernelKind;

/** The family that runs an optimizer's updates for `kernel` on the active backend. */
function updateKernel(kernel: OptimizerKernel | undefined): { family: string; update: UpdateKernel } {
  // The update does not depend on the model's sizes: any cell and hidden size gives the same family.
  const { kernel: k } = kernelFor({ backend: tf.getBackend(), kernel, cell: "rnn", hidden: 1 });
  return { family: k.family, update: k.update };
}

/** Options of {@linkcode RMSprop}, PyTorch's defaults except lr (the notebook's 0.001). */
export interface RMSpropOptions {
  /** Fused or op-level update. @default "auto" */
  kernel?: OptimizerKernel;
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Smoothing constant of the squared-gradient average (tfjs uses 0.9). @default 0.99 */
  alpha?: number;
  /** Added to sqrt(v), outside the root as in PyTorch (tfjs adds it inside). @default 1e-8 */
  eps?: number;
}

/** Options of {@linkcode Adam}, PyTorch's defaults. */
export interface AdamOptions {
  /** Fused or op-level update. @default "auto" */
  kernel?: OptimizerKernel;
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** Added to sqrt(v_hat). @default 1e-8 */
  eps?: number;
}

/** `torch.optim.RMSprop`: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps). */
export class RMSprop implements Optimizer {
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  /** The kernel family the update runs on: "cpu" loops, "webgpu" programs, or "op" (tfjs ops). */
  readonly path: string;
  #vars: tf.Variable[];
  #update: UpdateKernel;
  #sq: Moments;

  constructor(vars: tf.Variable[], opts: RMSpropOptions = {}) {
    this.lr = opts.lr ?? 0.001;
    this.alpha = opts.alpha ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    const { family, update } = updateKernel(opts.kernel);
    this.path = family;
    this.#update = update;
    this.#vars = vars;
    this.#sq = update.zeros(vars);
  }

  /** Whether the update runs fused (a CPU loop or WebGPU programs) rather than as tfjs ops. */
  get fused(): boolean {
    return this.path !== "op";
  }

  step(grads: tf.Tensor[], alive?: AliveMask): void {
    this.#update.rmsprop(this.#vars, grads, this.#sq, alive, this.#rule());
  }

  /** This step's rule and the moments as Float32Arrays, for a step that updates itself (`StepOptimizer`). */
  nextUpdate(): OwnUpdate | undefined {
    const sq = momentArrays(this.#sq);
    return sq && { kind: "rmsprop", rule: this.#rule(), sq };
  }

  #rule() {
    return { lr: this.lr, alpha: this.alpha, eps: this.eps };
  }

  dispose(): void {
    this.#sq.dispose();
  }
}

/** `torch.optim.Adam` with bias correction, as PyTorch computes it. */
export class Adam implements Optimizer {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** The kernel family the update runs on: "cpu" loops, "webgpu" programs, or "op" (tfjs ops). */
  readonly path: string;
  #vars: tf.Variable[];
  #update: UpdateKernel;
  #m: Moments;
  #v: Moments;
  #t = 0;

  constructor(vars: tf.Variable[], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 0.001;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    const { family, update } = updateKernel(opts.kernel);
    this.path = family;
    this.#update = update;
    this.#vars = vars;
    this.#m = update.zeros(vars);
    this.#v = update.zeros(vars);
  }

  /** Whether the update runs fused (a CPU loop or WebGPU programs) rather than as tfjs ops. */
  get fused(): boolean {
    return this.path !== "op";
  }

  step(grads: tf.Tensor[], alive?: AliveMask): void {
    this.#update.adam(this.#vars, grads, this.#m, this.#v, alive, this.#nextRule());
  }

  /** This step's rule and the moments as Float32Arrays, for a step that updates itself (`StepOptimizer`). */
  nextUpdate(): OwnUpdate | undefined {
    const m = momentArrays(this.#m), v = momentArrays(this.#v);
    return m && v && { kind: "adam", rule: this.#nextRule(), m, v };
  }

  /** Counts a step and gives its rule, with the bias corrections c1 = 1 - beta1^t, c2 = 1 - beta2^t. */
  #nextRule() {
    this.#t++;
    const { lr, beta1, beta2, eps } = this;
    return { lr, beta1, beta2, eps, c1: 1 - beta1 ** this.#t, c2: 1 - beta2 ** this.#t };
  }

  dispose(): void {
    this.#m.dispose();
    this.#v.dispose();
  }
}

/** Builds the optimizer `name` over `vars` with learning rate `lr`. */
export function makeOptimizer(
  name: OptimizerName,
  vars: tf.Variable[],
  lr: number,
  kernel: OptimizerKernel = "auto",
): Optimizer {
  return name === "adam" ? new Adam(vars, { lr, kernel }) : new RMSprop(vars, { lr, kernel });
}
