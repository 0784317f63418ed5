/**
 * The CPU family's optimizer updates: PyTorch's RMSprop and Adam as one loop
 * over each parameter's Float32Array, moments kept as Float32Arrays, where the
 * op-level update (`../op/update.ts`) costs about fourteen tfjs ops per
 * parameter. For backends whose tensors live in CPU memory (elsewhere each
 * step would copy every parameter to the host and back). Not the choice of
 * optimizer (`lib/optim.ts`).
 */
import { tf } from "../../tf.ts";
import type { AdamRule, AliveMask, Moments, RmspropRule, UpdateKernel } from "../kernel.ts";

/** Moments as one Float32Array per variable. */
export class ArrayMoments implements Moments {
  readonly values: Float32Array[];

  constructor(vars: tf.Variable[]) {
    this.values = vars.map((v) => new Float32Array(v.size));
  }

  dispose(): void {}
}

/** The moments' Float32Arrays where they are the CPU family's, else undefined. */
export function momentArrays(m: Moments): Float32Array[] | undefined {
  return m instanceof ArrayMoments ? m.values : undefined;
}

/** The mask as values in CPU memory. */
function aliveValues(alive: AliveMask | undefined): ArrayLike<number | boolean> | undefined {
  return alive instanceof tf.Tensor ? alive.dataSync() : alive;
}

/**
 * Runs `update(params, grad, i)` for each element i of each live replica of
 * variable `v`, on copies of the parameter and gradient, then writes the
 * parameter back.
 */
function eachLiveElement(
  v: tf.Variable,
  grad: tf.Tensor,
  alive: ArrayLike<number | boolean> | undefined,
  update: (params: Float32Array, grad: Float32Array, i: number) => void,
): void {
  const params = Float32Array.from(v.dataSync() as Float32Array);
  const gradValues = grad.dataSync() as Float32Array;
  const perReplica = params.length / v.shape[0];
  for (let r = 0; r < v.shape[0]; r++) {
    if (alive && !alive[r]) continue;
    for (let i = r * perReplica; i < (r + 1) * perReplica; i++) update(params, gradValues, i);
  }
  const next = tf.tensor(params, v.shape);
  v.assign(next);
  next.dispose();
}

/** RMSprop and Adam as loops over Float32Arrays. */
export const cpuUpdate: UpdateKernel = {
  zeros: (vars) => new ArrayMoments(vars),

  rmsprop(vars, grads, sq, alive, { lr, alpha, eps }: RmspropRule) {
    const live = aliveValues(alive);
    vars.forEach((v, k) => {
      const squares = (sq as ArrayMoments).values[k];
      eachLiveElement(v, grads[k], live, (p, g, i) => {
        squares[i] = alpha * squares[i] + (1 - alpha) * g[i] * g[i];
        p[i] -= (lr * g[i]) / (Math.sqrt(squares[i]) + eps);
      });
    });
  },

  adam(vars, grads, m, v, alive, { lr, beta1, beta2, eps, c1, c2 }: AdamRule) {
    const live = aliveValues(alive), sc2 = Math.sqrt(c2);
    vars.forEach((variable, k) => {
      const first = (m as ArrayMoments).values[k], second = (v as ArrayMoments).values[k];
      eachLiveElement(variable, grads[k], live, (p, g, i) => {
        first[i] = beta1 * first[i] + (1 - beta1) * g[i];
        second[i] = beta2 * second[i] + (1 - beta2) * g[i] * g[i];
        p[i] -= (lr / c1) * (first[i] / (Math.sqrt(second[i]) / sc2 + eps));
      });
    });
  },
};
