// mutants: fast 3
import { assert, assertClose } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { Adam, clipGradNorm, makeOptimizer, OPTIMIZERS, RMSprop } from "../../lib/optim.ts";
import { SimpleRNN } from "../../lib/models.ts";
import { loadOptimFixtures, replay } from "../_fixtures.ts";

await tf.setBackend("cpu");

const fx = loadOptimFixtures();

for (const kernel of ["op", "fused"] as const) {
  Deno.test(`RMSprop (${kernel}) follows torch.optim.RMSprop (eps outside the sqrt, alpha 0.99)`, async () => {
    await replay((v) => new RMSprop(v, { lr: fx.rmsprop.lr, kernel }), fx.rmsprop);
  });

  Deno.test(`Adam (${kernel}) follows torch.optim.Adam with bias correction`, async () => {
    await replay((v) => new Adam(v, { lr: fx.adam.lr, kernel }), fx.adam);
  });

  Deno.test(`${kernel}: a replica marked dead keeps its parameters and moments`, () => {
    for (
      const make of [
        (v: tf.Variable[]) => new RMSprop(v, { lr: 0.1, kernel }),
        (v: tf.Variable[]) => new Adam(v, { lr: 0.1, kernel }),
      ]
    ) {
      const p = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
      const opt = make([p]);
      opt.step([tf.tensor2d([[1, 1], [1, 1]])], [true, false]);
      const got = p.arraySync() as number[][];
      assert.deepEqual(got[1], [3, 4]);
      assert.ok(got[0][0] < 1 && got[0][1] < 2);
      opt.dispose();
      p.dispose();
    }
    // RMSprop's moments of the frozen replica stayed zero: its next step equals a first step.
    const p = tf.variable(tf.tensor2d([[1, 2], [3, 4]])), solo = tf.variable(tf.tensor2d([[3, 4]]));
    const opt = new RMSprop([p], { lr: 0.1, kernel }), optSolo = new RMSprop([solo], { lr: 0.1, kernel });
    opt.step([tf.tensor2d([[1, 1], [1, 1]])], [true, false]);
    opt.step([tf.tensor2d([[1, 1], [1, 1]])], [false, true]);
    optSolo.step([tf.tensor2d([[1, 1]])]);
    assertClose((p.arraySync() as number[][])[1], (solo.arraySync() as number[][])[0], 1e-7, "frozen replica");
    [opt, optSolo, p, solo].forEach((x) => x.dispose());
  });
}

Deno.test("tfjs's own rmsprop (eps inside the sqrt) does not match PyTorch: the reason RMSprop exists", () => {
  const f = fx.rmsprop;
  const p = tf.variable(tf.tensor1d(f.p0));
  const opt = tf.train.rmsprop(f.lr, 0.99, 0, 1e-8);
  for (const g of f.grads) opt.applyGradients([{ name: p.name, tensor: tf.tensor1d(g) }]);
  const got = p.dataSync();
  const worst = Math.max(...f.params[f.params.length - 1].map((v: number, i: number) => Math.abs(v - got[i])));
  assert.ok(worst > 1e-3, `tfjs rmsprop unexpectedly matches PyTorch (worst diff ${worst})`);
  opt.dispose();
  p.dispose();
});

Deno.test("clipGradNorm matches torch.nn.utils.clip_grad_norm_, per replica", () => {
  for (const c of fx.clip) {
    // replica 0: the fixture's gradients; replica 1: the same scaled by 1e-3 (never clipped when max >= 0.5).
    const a = tf.tensor3d([...c.grads[0], ...c.grads[0].map((v: number) => v * 1e-3)], [2, 3, 2]);
    const b = tf.tensor2d([c.grads[1], c.grads[1].map((v: number) => v * 1e-3)]);
    const { grads, norms } = clipGradNorm([a, b], c.maxNorm);
    const ga = grads[0].arraySync() as number[][][], gb = grads[1].arraySync() as number[][];
    assertClose(ga[0].flat(), c.clipped[0], 1e-6, "clipped a");
    assertClose(gb[0], c.clipped[1], 1e-6, "clipped b");
    assertClose([norms.dataSync()[0]], [c.totalNorm], 1e-5, "norm");
    // Small gradients of replica 1 pass unchanged.
    assertClose(ga[1].flat(), c.grads[0].map((v: number) => v * 1e-3), 1e-9, "small a");
    const clippedNorm = Math.hypot(...c.clipped[0], ...c.clipped[1]);
    assert.ok(clippedNorm <= c.maxNorm + 1e-5, `norm after clipping ${clippedNorm} > ${c.maxNorm}`);
    tf.dispose([a, b, norms, ...grads]);
  }
});

Deno.test("a model and its optimizer leave no tensor behind once disposed", async () => {
  await tf.setBackend("cpu");
  for (const name of OPTIMIZERS) {
    for (const kernel of ["op", "fused"] as const) {
      const before = tf.memory().numTensors;
      const model = new SimpleRNN({ cell: "lstm", hidden: 3, layers: 2, seeds: [1, 2] });
      const opt = makeOptimizer(name, model.variables, 0.001, kernel);
      opt.dispose();
      model.dispose();
      assert.equal(tf.memory().numTensors, before, `${name} ${kernel}`);
    }
  }
});
