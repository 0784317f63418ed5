/**
 * The notebook's loss and accuracy per replica: PyTorch's BCE-with-logits
 * (mean reduction) and the count of digits predicted right. Not the
 * optimizer nor the training step (lib/kernels/op/step.ts).
 */
import { tf } from "./tf.ts";

/** Sums over every axis but the leading replica axis. */
function perReplica(t: tf.Tensor, op: "sum" | "mean"): tf.Tensor1D {
  const axes = t.shape.slice(1).map((_, i) => i + 1);
  return (op === "sum" ? tf.sum(t, axes) : tf.mean(t, axes)) as tf.Tensor1D;
}

/**
 * PyTorch's `BCEWithLogitsLoss()` (mean reduction) for each replica:
 * max(z, 0) - z y + log(1 + exp(-|z|)), averaged over batch and steps.
 * Returns `[S]`. The arguments are (logits, targets), as PyTorch's.
 */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const l = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return perReplica(l, "mean");
  });
}

/** Digits predicted right (sigmoid(z) > 0.5, i.e. z > 0) per replica, `[S]`. */
export function correctDigits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() =>
    perReplica(tf.cast(tf.equal(tf.cast(tf.greater(logits, 0), "float32"), targets), "float32"), "sum")
  );
}

export { perReplica };
