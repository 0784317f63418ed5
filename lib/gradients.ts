/**
 * How far back a model's loss reaches: the mean |d loss_t / d x_(t-k)| per
 * lag k (`exp:gradients`, the vanishing-gradient measurement). Not training:
 * a model trained elsewhere is probed here.
 */
import { tf } from "./tf.ts";
import type { SimpleRNN } from "./models.ts";

/**
 * How far back the loss reaches: for each replica and lag k, the mean over the
 * replica's B sequences and over positions t >= k of |d loss_t / d x_(t-k)|,
 * where loss_t is the BCE-with-logits at step t of that one sequence, run from
 * a zero state. The gradient is per sequence: the loss differentiated is the
 * plain sum of loss_t over sequences and replicas (no batch mean), and since
 * sequences and replicas do not interact, each input only receives the
 * gradient of its own sequence's loss_t. So B identical sequences give the
 * value of one. `x` and `y` are `[S, B, L, 1]`; returns one array of length L
 * per replica.
 */
export async function inputGradientByLag(model: SimpleRNN, x: tf.Tensor4D, y: tf.Tensor4D): Promise<number[][]> {
  const [S, B, L] = x.shape;
  const sums = Array.from({ length: S }, () => new Float64Array(L));
  const counts = new Float64Array(L);
  for (let t = 0; t < L; t++) {
    const g = tf.tidy(() =>
      tf.grad((input: tf.Tensor) => {
        const z = tf.slice(model.forward(input as tf.Tensor4D, null).logits, [0, 0, t, 0], [S, B, 1, 1]);
        const target = tf.slice(y, [0, 0, t, 0], [S, B, 1, 1]);
        const loss = tf.add(tf.sub(tf.relu(z), tf.mul(z, target)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
        return tf.sum(loss); // per-sequence losses summed: each x[s, b] sees only its own loss_t
      })(x)
    );
    const d = await g.data();
    g.dispose();
    for (let k = 0; k <= t; k++) {
      counts[k] += 1;
      for (let s = 0; s < S; s++) {
        let acc = 0;
        for (let b = 0; b < B; b++) acc += Math.abs(d[(s * B + b) * L + (t - k)]);
        sums[s][k] += acc / B; // mean over the batch's sequences
      }
    }
  }
  return sums.map((row) => Array.from(row, (v, k) => v / counts[k]));
}
