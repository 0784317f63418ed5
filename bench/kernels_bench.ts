/**
 * `deno task bench:kernels`: microbenchmarks of one training step's forward
 * and backward through the recurrent layer, fused kernel against op by op,
 * for each cell on the wasm backend (batch 5, T 20).
 */
import { tf } from "../lib/tf.ts";
import { useBackend } from "../lib/backend.ts";
import { type CellKind, type KernelKind, SimpleRNN } from "../lib/models.ts";
import { bceWithLogits } from "../lib/loss.ts";

await useBackend("wasm");

function step(cell: CellKind, hidden: number, replicas: number, kernel: KernelKind) {
  const seeds = Array.from({ length: replicas }, (_, i) => i + 1);
  const m = new SimpleRNN({ cell, hidden, seeds, kernel });
  const x = tf.randomUniform([replicas, 5, 20, 1]) as tf.Tensor4D,
    y = tf.round(tf.randomUniform([replicas, 5, 20, 1])) as tf.Tensor4D;
  return () =>
    tf.tidy(() => {
      const { value } = tf.variableGrads(
        () => tf.sum(bceWithLogits(m.forward(x, null).logits, y)) as tf.Scalar,
        m.variables,
      );
      value.dataSync();
    });
}

for (const cell of ["rnn", "lstm", "gru"] as const) {
  for (const [hidden, replicas] of [[4, 1], [60, 1], [4, 64]]) {
    const group = `${cell} H${hidden} S${replicas}`;
    Deno.bench({ name: `${group} op`, group, baseline: true, fn: step(cell, hidden, replicas, "op") });
    Deno.bench({ name: `${group} fused`, group, fn: step(cell, hidden, replicas, "fused") });
  }
}
