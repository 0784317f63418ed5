/**
 * The reference recurrence: one layer over a chunk as tfjs ops, step by step,
 * with PyTorch's equations and gate orders; tfjs's autodiff gives its
 * gradient. Every other kernel is tested against this one. Not fast: a layer
 * costs about 3T small ops and their tape.
 */
import { tf } from "../../tf.ts";
import type { LayerInput, LayerOutput } from "../kernel.ts";

/** x W^T + b per replica as tfjs ops: `x` `[S, N, K]`, `w` `[S, G, K]`, `b` `[S, G]`, giving `[S, N, G]`. */
export function opLinear(x: tf.Tensor3D, w: tf.Tensor3D, b: tf.Tensor2D): tf.Tensor3D {
  const [S, G] = b.shape;
  return tf.add(tf.matMul(x, w, false, true), tf.reshape(b, [S, 1, G]));
}

/** One recurrent layer over the chunk, op by op (see {@linkcode LayerInput}). */
export function opLayer({ cell, xp, h0, c0, whh, bhh }: LayerInput): LayerOutput {
  const [S, B, T, G] = xp.shape;
  const biasHidden = tf.reshape(bhh, [S, 1, G]);
  // b_hh folds into the input projection, except for GRU, whose n gate multiplies W_hn h + b_hn by r.
  const projected = cell === "gru" ? xp : tf.add(xp, tf.reshape(biasHidden, [S, 1, 1, G]));
  // tfjs's Unpack gradient breaks on a single output, hence the reshape for T = 1.
  const steps = T === 1 ? [tf.reshape(projected, [S, B, G]) as tf.Tensor3D] : tf.unstack(projected, 2) as tf.Tensor3D[];
  let h = h0;
  let c = c0 ?? h0;
  const outs: tf.Tensor3D[] = [];
  for (const xt of steps) {
    const hh = tf.matMul(h, whh, false, true);
    if (cell === "rnn" || cell === "irnn") {
      h = tf.relu(tf.add(xt, hh));
    } else if (cell === "lstm") {
      const [input, forget, candidate, output] = tf.split(tf.add(xt, hh), 4, 2);
      c = tf.add(tf.mul(tf.sigmoid(forget), c), tf.mul(tf.sigmoid(input), tf.tanh(candidate)));
      h = tf.mul(tf.sigmoid(output), tf.tanh(c));
    } else {
      const [xReset, xUpdate, xNew] = tf.split(xt, 3, 2);
      const [hReset, hUpdate, hNew] = tf.split(tf.add(hh, biasHidden), 3, 2);
      const reset = tf.sigmoid(tf.add(xReset, hReset));
      const update = tf.sigmoid(tf.add(xUpdate, hUpdate));
      const candidate = tf.tanh(tf.add(xNew, tf.mul(reset, hNew)));
      h = tf.add(candidate, tf.mul(update, tf.sub(h, candidate))); // (1 - z) * n + z * h
    }
    outs.push(h);
  }
  const outputs = (T === 1 ? tf.expandDims(outs[0], 2) : tf.stack(outs, 2)) as tf.Tensor4D;
  return { outputs, h, c: cell === "lstm" ? c : null };
}
