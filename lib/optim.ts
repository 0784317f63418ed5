import { tf, variableFrom } from "./tf.ts";
import { perReplica } from "./loss.ts";
import { CPU_BACKENDS } from "./fused.ts";
import { adamStep, rmspropStep } from "./optim_webgpu.ts";

/** Optimizers the suite implements with PyTorch's update rules. */
export const OPTIMIZERS = ["rmsprop", "adam"] as const;
export type OptimizerName = typeof OPTIMIZERS[number];

/**
 * Which replicas an update applies to: one flag per replica, or a `[S]`
 * tensor of 1 (alive) and 0 that stays on the device.
 */
export type AliveMask = boolean[] | tf.Tensor1D;

/** An optimizer over replica-stacked variables (leading axis S). */
export interface Optimizer {
  /**
   * Applies one update from `grads` (same order as the variables). Replicas
   * whose `alive` entry is false (or 0) keep their parameters and moments.
   */
  step(grads: tf.Tensor[], alive?: AliveMask): void;
  dispose(): void;
}

/**
 * `fused` updates each parameter in one pass: a JavaScript loop over its
 * Float32Array where tensors live in CPU memory, one WebGPU program per
 * moment and parameter on webgpu (`optim_webgpu.ts`); `op` with tfjs ops
 * (the reference); `auto` (default) is fused.
 */
export type OptimizerKernel = "auto" | "fused" | "op";

/** Where an optimizer's update runs: a CPU loop, WebGPU programs, or tfjs ops. */
type UpdatePath = "cpu" | "webgpu" | "op";

function updatePath(kernel: OptimizerKernel | undefined): UpdatePath {
  if ((kernel ?? "auto") === "op") return "op";
  if (tf.getBackend() === "webgpu") return "webgpu";
  return kernel === "fused" || CPU_BACKENDS.has(tf.getBackend()) ? "cpu" : "op";
}

/**
 * Runs `update(i, r)` for each element i of each live replica r of variable
 * `v`, on copies of the parameter and gradient, then writes the parameter back.
 */
function fusedUpdate(
  v: tf.Variable,
  grad: tf.Tensor,
  alive: ArrayLike<number | boolean> | undefined,
  update: (p: Float32Array, g: Float32Array, i: number) => void,
): void {
  const p = Float32Array.from(v.dataSync() as Float32Array);
  const g = grad.dataSync() as Float32Array;
  const per = p.length / v.shape[0];
  for (let r = 0; r < v.shape[0]; r++) {
    if (alive && !alive[r]) continue;
    for (let i = r * per; i < (r + 1) * per; i++) update(p, g, i);
  }
  const next = tf.tensor(p, v.shape);
  v.assign(next);
  next.dispose();
}

/** Options of {@linkcode RMSprop}, PyTorch's defaults except lr (the notebook's 0.001). */
export interface RMSpropOptions {
  /** Fused or op-level update. Default "auto". */
  kernel?: OptimizerKernel;
  /** Learning rate. Default 0.001. */
  lr?: number;
  /** Smoothing constant of the squared-gradient average. Default 0.99 (tfjs uses 0.9). */
  alpha?: number;
  /** Added to sqrt(v), outside the root as in PyTorch (tfjs adds it inside). Default 1e-8. */
  eps?: number;
}

/** Options of {@linkcode Adam}, PyTorch's defaults. */
export interface AdamOptions {
  /** Fused or op-level update. Default "auto". */
  kernel?: OptimizerKernel;
  /** Learning rate. Default 0.001. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Added to sqrt(v_hat). Default 1e-8. */
  eps?: number;
}

function assignMasked(v: tf.Variable, next: tf.Tensor, mask: tf.Tensor | null): void {
  v.assign(mask ? tf.where(tf.broadcastTo(mask, v.shape), next, v) : next);
}

/** The mask as a bool tensor shaped to broadcast over a variable of `rank`; null where every replica is alive. */
function maskTensor(alive: AliveMask | undefined, rank: number): tf.Tensor | null {
  if (!alive) return null;
  const shape = [-1, ...Array(rank - 1).fill(1)];
  if (alive instanceof tf.Tensor) return tf.reshape(tf.cast(alive, "bool"), shape);
  if (alive.every(Boolean)) return null;
  return tf.reshape(tf.tensor(alive.map((a) => (a ? 1 : 0)), [alive.length], "bool"), shape);
}

/** The mask as a `[S]` tensor of 1 and 0, for the WebGPU updates. */
function maskValues(alive: AliveMask | undefined, replicas: number): tf.Tensor1D {
  if (alive instanceof tf.Tensor) return tf.cast(alive, "float32");
  return tf.tensor1d(Array.from({ length: replicas }, (_, r) => (alive && !alive[r] ? 0 : 1)));
}

/** The mask as values in CPU memory, for the fused updates (their backends keep tensors there). */
function aliveValues(alive: AliveMask | undefined): ArrayLike<number | boolean> | undefined {
  return alive instanceof tf.Tensor ? alive.dataSync() : alive;
}

/** `torch.optim.RMSprop`: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps). */
export class RMSprop implements Optimizer {
  readonly lr: number;
  readonly alpha: number;
  readonly eps: number;
  /** Where the update runs: a CPU loop ("cpu"), WebGPU programs, or tfjs ops. */
  readonly path: UpdatePath;
  #vars: tf.Variable[];
  #sq: tf.Variable[] = [];
  #sqFused: Float32Array[] = [];

  constructor(vars: tf.Variable[], opts: RMSpropOptions = {}) {
    this.lr = opts.lr ?? 0.001;
    this.alpha = opts.alpha ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    this.path = updatePath(opts.kernel);
    this.#vars = vars;
    if (this.path === "cpu") this.#sqFused = vars.map((v) => new Float32Array(v.size));
    else this.#sq = vars.map((v) => variableFrom(tf.zerosLike(v), false));
  }

  /** Whether the update runs fused (a CPU loop or WebGPU programs) rather than as tfjs ops. */
  get fused(): boolean {
    return this.path !== "op";
  }

  step(grads: tf.Tensor[], alive?: AliveMask): void {
    if (this.path === "webgpu") {
      tf.tidy(() => {
        const mask = maskValues(alive, this.#vars[0].shape[0]);
        this.#vars.forEach((p, i) => {
          const [v, next] = rmspropStep(p, grads[i], this.#sq[i], mask, this);
          this.#sq[i].assign(v);
          p.assign(next);
        });
      });
      return;
    }
    if (this.path === "cpu") {
      const { lr, alpha, eps } = this, live = aliveValues(alive);
      this.#vars.forEach((v, k) => {
        const sq = this.#sqFused[k];
        fusedUpdate(v, grads[k], live, (p, g, i) => {
          sq[i] = alpha * sq[i] + (1 - alpha) * g[i] * g[i];
          p[i] -= (lr * g[i]) / (Math.sqrt(sq[i]) + eps);
        });
      });
      return;
    }
    tf.tidy(() => {
      this.#vars.forEach((p, i) => {
        const g = grads[i], sq = this.#sq[i];
        const mask = maskTensor(alive, p.rank);
        const v = tf.add(tf.mul(sq, this.alpha), tf.mul(tf.square(g), 1 - this.alpha));
        const next = tf.sub(p, tf.div(tf.mul(g, this.lr), tf.add(tf.sqrt(v), this.eps)));
        assignMasked(sq, v, mask);
        assignMasked(p, next, mask);
      });
    });
  }

  dispose(): void {
    for (const v of this.#sq) v.dispose();
  }
}

/** `torch.optim.Adam` with bias correction, as PyTorch computes it. */
export class Adam implements Optimizer {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Where the update runs: a CPU loop ("cpu"), WebGPU programs, or tfjs ops. */
  readonly path: UpdatePath;
  #vars: tf.Variable[];
  #m: tf.Variable[] = [];
  #v: tf.Variable[] = [];
  #mFused: Float32Array[] = [];
  #vFused: Float32Array[] = [];
  #t = 0;

  constructor(vars: tf.Variable[], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 0.001;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.path = updatePath(opts.kernel);
    this.#vars = vars;
    if (this.path === "cpu") {
      this.#mFused = vars.map((v) => new Float32Array(v.size));
      this.#vFused = vars.map((v) => new Float32Array(v.size));
    } else {
      this.#m = vars.map((v) => variableFrom(tf.zerosLike(v), false));
      this.#v = vars.map((v) => variableFrom(tf.zerosLike(v), false));
    }
  }

  /** Whether the update runs fused (a CPU loop or WebGPU programs) rather than as tfjs ops. */
  get fused(): boolean {
    return this.path !== "op";
  }

  step(grads: tf.Tensor[], alive?: AliveMask): void {
    this.#t++;
    const c1 = 1 - this.beta1 ** this.#t, c2 = 1 - this.beta2 ** this.#t;
    if (this.path === "webgpu") {
      tf.tidy(() => {
        const mask = maskValues(alive, this.#vars[0].shape[0]);
        this.#vars.forEach((p, i) => {
          const [m, v, next] = adamStep(p, grads[i], this.#m[i], this.#v[i], mask, { ...this, c1, c2 });
          this.#m[i].assign(m);
          this.#v[i].assign(v);
          p.assign(next);
        });
      });
      return;
    }
    if (this.path === "cpu") {
      const { lr, beta1, beta2, eps } = this, live = aliveValues(alive);
      const sc2 = Math.sqrt(c2);
      this.#vars.forEach((v, k) => {
        const m = this.#mFused[k], s = this.#vFused[k];
        fusedUpdate(v, grads[k], live, (p, g, i) => {
          m[i] = beta1 * m[i] + (1 - beta1) * g[i];
          s[i] = beta2 * s[i] + (1 - beta2) * g[i] * g[i];
          p[i] -= (lr / c1) * (m[i] / (Math.sqrt(s[i]) / sc2 + eps));
        });
      });
      return;
    }
    tf.tidy(() => {
      this.#vars.forEach((p, i) => {
        const g = grads[i];
        const mask = maskTensor(alive, p.rank);
        const m = tf.add(tf.mul(this.#m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.#v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(c2)), this.eps);
        const next = tf.sub(p, tf.mul(tf.div(m, denom), this.lr / c1));
        assignMasked(this.#m[i], m, mask);
        assignMasked(this.#v[i], v, mask);
        assignMasked(p, next, mask);
      });
    });
  }

  dispose(): void {
    for (const v of [...this.#m, ...this.#v]) v.dispose();
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

/**
 * `torch.nn.utils.clip_grad_norm_` applied to each replica on its own: the
 * global L2 norm over all of a replica's gradients is scaled down to
 * `maxNorm` (coefficient maxNorm / (norm + 1e-6), capped at 1). Returns the
 * clipped gradients and each replica's norm before clipping.
 */
export function clipGradNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norms: tf.Tensor1D } {
  return tf.tidy(() => {
    // Summed pairwise, not with tf.addN: tfjs-webgpu's AddN binds one storage buffer per input and WebGPU
    // allows 8 per stage, so past 7 gradients (2 layers) its sum is silently wrong.
    const squares = grads.map((g) => perReplica(tf.square(g), "sum"));
    const norms = tf.sqrt(squares.reduce((a, b) => tf.add(a, b))) as tf.Tensor1D;
    const coef = tf.minimum(tf.div(maxNorm, tf.add(norms, 1e-6)), 1);
    const clipped = grads.map((g) => tf.mul(g, tf.reshape(coef, [coef.size, ...Array(g.rank - 1).fill(1)])));
    return { grads: clipped, norms };
  });
}
