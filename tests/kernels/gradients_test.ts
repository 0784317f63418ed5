// mutants: fast 7
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { SimpleRNN } from "../../lib/models.ts";
import { inputGradientByLag } from "../../lib/gradients.ts";

await tf.setBackend("cpu");

Deno.test("gradient by lag: zero past lag 0 without recurrence, non-zero with it", async () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 3 * 6 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0), [2, 3, 6, 1]);
  const y = tf.tensor4d(Array.from({ length: 2 * 3 * 6 }, (_, i) => (i * 5) % 2), [2, 3, 6, 1]);
  const m = new SimpleRNN({ hidden: 5, seeds: [1, 2], kernel: "fused" });
  const none = m.params.get("rnn.weight_hh_l0")!;
  none.assign(tf.zerosLike(none));
  const flat = await inputGradientByLag(m, x, y);
  assert.equal(flat.length, 2);
  for (const row of flat) {
    assert.equal(row.length, 6);
    assert.ok(row[0] > 0, "lag 0 must carry gradient");
    for (let k = 1; k < 6; k++) assert.equal(row[k], 0, `lag ${k} without recurrence`);
  }
  const irnn = new SimpleRNN({ cell: "irnn", hidden: 5, seeds: [1, 2], kernel: "op" });
  const mem = await inputGradientByLag(irnn, x, y);
  for (const row of mem) assert.ok(row[3] > 0, "identity recurrence carries gradient back 3 steps");
  tf.dispose([x, y]);
  m.dispose();
  irnn.dispose();
});

/** A `[S, B, L, 1]` tensor holding, for each replica s, `rows[s]` repeated B times. */
function repeated(rows: number[][], B: number): tf.Tensor4D {
  const L = rows[0].length;
  return tf.tensor4d(rows.flatMap((r) => Array.from({ length: B }, () => r).flat()), [rows.length, B, L, 1]);
}

Deno.test("gradient by lag does not scale with the batch size: B identical sequences give the value of one", async () => {
  const xs = [[1, 0, 0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 0, 0, 1, 1]];
  const ys = [[0, 0, 1, 0, 0, 1, 1, 0], [1, 0, 0, 1, 1, 0, 0, 0]];
  for (const [cell, kernel] of [["rnn", "fused"], ["lstm", "op"], ["irnn", "op"]] as const) {
    const m = new SimpleRNN({ cell, hidden: 6, seeds: [5, 6], kernel });
    const one = await (async () => {
      const x = repeated(xs, 1), y = repeated(ys, 1);
      const g = await inputGradientByLag(m, x, y);
      tf.dispose([x, y]);
      return g;
    })();
    for (const B of [7, 20]) {
      const x = repeated(xs, B), y = repeated(ys, B);
      const many = await inputGradientByLag(m, x, y);
      tf.dispose([x, y]);
      for (let s = 0; s < 2; s++) {
        for (let k = 0; k < 8; k++) {
          const a = many[s][k], b = one[s][k];
          assert.ok(
            Math.abs(a - b) <= 1e-6 * Math.abs(b) + 1e-12,
            `${cell} replica ${s} lag ${k}: B = ${B} gives ${a}, one sequence gives ${b} (ratio ${a / b})`,
          );
        }
      }
    }
    assert.ok(one[0][0] > 0 && one[1][0] > 0, `${cell}: lag 0 carries gradient`);
    m.dispose();
  }
});

Deno.test("gradient by lag matches finite differences of each sequence's per-step loss, averaged over the batch", async () => {
  // value[s][k] = mean over sequences b and steps t >= k of |d loss_t / d x_(t-k)|, loss_t the
  // BCE-with-logits at step t of sequence b; here each derivative is a central difference of the forward pass.
  const S = 2, B = 3, L = 6, eps = 1e-2;
  const xs = Array.from({ length: S * B }, (_, i) => Array.from({ length: L }, (_, j) => Math.sin(1.7 * i + 2.3 * j)));
  const ys = Array.from({ length: S * B }, (_, i) => Array.from({ length: L }, (_, j) => (i + j * j) % 2));
  const m = new SimpleRNN({ cell: "lstm", hidden: 4, seeds: [7, 8], kernel: "op" });
  const lossAt = (rows: number[][], r: number, t: number): number =>
    tf.tidy(() => {
      const z = m.forward(tf.tensor4d(rows.flat(), [S, B, L, 1]), null).logits.dataSync()[r * L + t];
      const y = ys[r][t];
      return Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    });
  const x = tf.tensor4d(xs.flat(), [S, B, L, 1]), y = tf.tensor4d(ys.flat(), [S, B, L, 1]);
  const got = await inputGradientByLag(m, x, y);
  tf.dispose([x, y]);
  for (let s = 0; s < S; s++) {
    for (const k of [0, 1, 3, L - 1]) {
      let sum = 0;
      for (let b = 0; b < B; b++) {
        const r = s * B + b;
        for (let t = k; t < L; t++) {
          const shift = (d: number) => xs.map((row, i) => row.map((v, j) => (i === r && j === t - k ? v + d : v)));
          sum += Math.abs((lossAt(shift(eps), r, t) - lossAt(shift(-eps), r, t)) / (2 * eps));
        }
      }
      const want = sum / (B * (L - k));
      assert.ok(want > 1e-4, `replica ${s} lag ${k}: finite differences too small to compare (${want})`);
      assert.ok(
        Math.abs(got[s][k] - want) <= 1e-2 * want,
        `replica ${s} lag ${k}: ${got[s][k]} vs finite differences ${want}`,
      );
    }
  }
  m.dispose();
});
