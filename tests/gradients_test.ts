import { assert } from "./_assert.ts";
import { tf } from "../lib/tf.ts";
import { SimpleRNN } from "../lib/models.ts";
import { inputGradientByLag } from "../lib/gradients.ts";

await tf.setBackend("cpu");

Deno.test("gradient by lag: zero past lag 0 without recurrence, non-zero with it", () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 3 * 6 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0), [2, 3, 6, 1]);
  const y = tf.tensor4d(Array.from({ length: 2 * 3 * 6 }, (_, i) => (i * 5) % 2), [2, 3, 6, 1]);
  const m = new SimpleRNN({ hidden: 5, seeds: [1, 2], kernel: "fused" });
  const none = m.params.get("rnn.weight_hh_l0")!;
  none.assign(tf.zerosLike(none));
  const flat = inputGradientByLag(m, x, y);
  assert.equal(flat.length, 2);
  for (const row of flat) {
    assert.equal(row.length, 6);
    assert.ok(row[0] > 0, "lag 0 must carry gradient");
    for (let k = 1; k < 6; k++) assert.equal(row[k], 0, `lag ${k} without recurrence`);
  }
  const irnn = new SimpleRNN({ cell: "irnn", hidden: 5, seeds: [1, 2], kernel: "op" });
  const mem = inputGradientByLag(irnn, x, y);
  for (const row of mem) assert.ok(row[3] > 0, "identity recurrence carries gradient back 3 steps");
  tf.dispose([x, y]);
  m.dispose();
  irnn.dispose();
});
