/**
 * The reference optimizer updates: PyTorch's RMSprop and Adam as tfjs ops on
 * replica-stacked variables, moments kept as tfjs variables, the alive mask
 * applied with `tf.where`. Not the choice of optimizer (`lib/optim.ts`).
 */
import { tf, variableFrom } from "../../tf.ts";
import type { AdamRule, AliveMask, Moments, RmspropRule, UpdateKernel } from "../kernel.ts";

/** Moments as tfjs variables shaped like the parameters (also the WebGPU family's form). */
export class VariableMoments implements Moments {
  readonly values: tf.Variable[];

  constructor(vars: tf.Variable[]) {
    this.values = vars.map((v) => variableFrom(tf.zerosLike(v), false));
  }

  dispose(): void {
    for (const v of this.values) v.dispose();
  }
}

/** The mask as a bool tensor shaped to broadcast over a variable of `rank`; null where every replica is alive. */
function maskTensor(alive: AliveMask | undefined, rank: number): tf.Tensor | null {
  if (!alive) return null;
  const shape = [-1, ...Array(rank - 1).fill(1)];
  if (alive instanceof tf.Tensor) return tf.reshape(tf.cast(alive, "bool"), shape);
  if (alive.every(Boolean)) return null;
  return tf.reshape(tf.tensor(alive.map((a) => (a ? 1 : 0)), [alive.length], "bool"), shape);
}

function assignMasked(v: tf.Variable, next: tf.Tensor, mask: tf.Tensor | null): void {
  v.assign(mask ? tf.where(tf.broadcastTo(mask, v.shape), next, v) : next);
}

/** RMSprop and Adam as tfjs ops. */
export const opUpdate: UpdateKernel = {
  zeros: (vars) => new VariableMoments(vars),

  rmsprop(vars, grads, sq, alive, { lr, alpha, eps }: RmspropRule) {
    const squares = (sq as VariableMoments).values;
    tf.tidy(() => {
      vars.forEach((p, i) => {
        const g = grads[i], mask = maskTensor(alive, p.rank);
        const v = tf.add(tf.mul(squares[i], alpha), tf.mul(tf.square(g), 1 - alpha));
        const next = tf.sub(p, tf.div(tf.mul(g, lr), tf.add(tf.sqrt(v), eps)));
        assignMasked(squares[i], v, mask);
        assignMasked(p, next, mask);
      });
    });
  },

  adam(vars, grads, m, v, alive, { lr, beta1, beta2, eps, c1, c2 }: AdamRule) {
    const firsts = (m as VariableMoments).values, seconds = (v as VariableMoments).values;
    tf.tidy(() => {
      vars.forEach((p, i) => {
        const g = grads[i], mask = maskTensor(alive, p.rank);
        const first = tf.add(tf.mul(firsts[i], beta1), tf.mul(g, 1 - beta1));
        const second = tf.add(tf.mul(seconds[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(second), Math.sqrt(c2)), eps);
        const next = tf.sub(p, tf.mul(tf.div(first, denom), lr / c1));
        assignMasked(firsts[i], first, mask);
        assignMasked(seconds[i], second, mask);
        assignMasked(p, next, mask);
      });
    });
  },
};
