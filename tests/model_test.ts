import { assert, assertClose } from "./_assert.ts";
import { tf } from "../lib/tf.ts";
import { type CellKind, SimpleRNN } from "../lib/models.ts";
import { bceWithLogits } from "../lib/loss.ts";
import { loadCases, modelFromCase, stateFromArr } from "./_fixtures.ts";

await tf.setBackend("cpu");

for (const cell of ["rnn", "lstm", "gru"] as const) {
  Deno.test(`${cell}: parameter names, shapes and count equal PyTorch's`, () => {
    for (const c of loadCases(cell)) {
      const m = new SimpleRNN({ cell, hidden: c.hidden, layers: c.layers, seeds: [1, 2] });
      assert.deepEqual([...m.params.keys()], Object.keys(c.params));
      for (const [name, a] of Object.entries(c.params)) assert.deepEqual(m.params.get(name)!.shape, [2, ...a.shape]);
      const torchCount = Object.values(c.params).reduce((n, a) => n + a.data.length, 0);
      assert.equal(m.parameterCount, torchCount);
      m.dispose();
    }
  });

  for (const kernel of ["op", "fused"] as const) {
    Deno.test(`${cell} (${kernel}): forward, loss and gradients match PyTorch within 1e-5`, () => {
      for (const c of loadCases(cell)) {
        const m = modelFromCase(cell, c, kernel);
        const [B, T] = [c.batch, c.steps];
        const x = tf.tensor4d(c.x.data, [1, B, T, 1]), y = tf.tensor4d(c.y.data, [1, B, T, 1]);
        const state = [...stateFromArr(c.h0), ...(c.c0 ? stateFromArr(c.c0) : [])];
        const out = m.forward(x, state);
        const where = `${cell} H${c.hidden} L${c.layers}`;
        assertClose(out.logits.dataSync(), c.logits.data, 1e-5, `${where} logits`);
        const finals = out.state.slice(0, c.layers).flatMap((t) => [...t.dataSync()]);
        assertClose(finals, c.hN.data, 1e-5, `${where} hN`);
        if (c.cN) {
          assertClose(out.state.slice(c.layers).flatMap((t) => [...t.dataSync()]), c.cN.data, 1e-5, `${where} cN`);
        }

        const f = () => tf.sum(bceWithLogits(m.forward(x, state).logits, y)) as tf.Scalar;
        const { value, grads } = tf.variableGrads(f, m.variables);
        assertClose([value.dataSync()[0]], [c.loss], 1e-5, `${where} loss`);
        for (const [name, g] of Object.entries(c.grads)) {
          assertClose(grads[m.params.get(name)!.name].dataSync(), g.data, 1e-5, `${where} grad ${name}`);
        }
        const gH = tf.grads((...s: tf.Tensor[]) => tf.sum(bceWithLogits(m.forward(x, s as tf.Tensor3D[]).logits, y)))(
          state,
        );
        assertClose(gH.slice(0, c.layers).flatMap((t) => [...t.dataSync()]), c.gradH0.data, 1e-5, `${where} dL/dh0`);
        tf.dispose([x, y, ...state, out.logits, ...out.state, value, ...Object.values(grads), ...gH]);
        m.dispose();
      }
    });
  }
}

Deno.test("initialisation is PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every parameter", () => {
  const H = 16, m = new SimpleRNN({ hidden: H, layers: 2, seeds: [3, 4, 5] });
  const bound = 1 / Math.sqrt(H);
  const all = m.variables.flatMap((v) => [...v.dataSync()]);
  assert.ok(all.every((v) => Math.abs(v) <= bound), "a value lies outside the bound");
  const max = Math.max(...all.map(Math.abs)), mean = all.reduce((a, b) => a + b, 0) / all.length;
  assert.ok(max > 0.95 * bound, `values do not fill the range: max |w| ${max}`);
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean} is not near 0`);
  const w = m.params.get("rnn.weight_hh_l0")!.arraySync() as number[][][];
  assert.notDeepEqual(w[0], w[1], "replicas must start from different weights");
  m.dispose();
});

Deno.test("a seed reproduces the initialisation exactly", () => {
  const a = new SimpleRNN({ hidden: 8, seeds: [11, 12] }), b = new SimpleRNN({ hidden: 8, seeds: [12] });
  const wa = a.params.get("rnn.weight_hh_l0")!.arraySync() as number[][][];
  const wb = b.params.get("rnn.weight_hh_l0")!.arraySync() as number[][][];
  assert.deepEqual(wa[1], wb[0], "replica with seed 12 must equal a lone model with seed 12");
  a.dispose();
  b.dispose();
});

Deno.test("irnn starts at scaled identity with zero biases", () => {
  const m = new SimpleRNN({ cell: "irnn" as CellKind, hidden: 5, seeds: [1, 2], identityScale: 0.5 });
  const w = m.params.get("rnn.weight_hh_l0")!.arraySync() as number[][][];
  for (const rep of w) {
    rep.forEach((row, i) => row.forEach((v, j) => assert.equal(v, i === j ? 0.5 : 0)));
  }
  for (const n of ["rnn.bias_ih_l0", "rnn.bias_hh_l0"]) assert.ok(m.params.get(n)!.dataSync().every((v) => v === 0));
  assert.ok(m.params.get("rnn.weight_ih_l0")!.dataSync().some((v) => v !== 0));
  m.dispose();
});
