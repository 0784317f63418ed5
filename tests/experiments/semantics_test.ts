/**
 * The notebook's semantics, checked end to end: an experiment script's CSV
 * against a plain re-statement of cells 9-12 written here, and the
 * random-sequence check (cells 13-16) against models built to echo.
 *
 * Each test also checks that the mistake it guards would change what it
 * compares (a run without the state carry gives other numbers), so it cannot
 * pass vacuously. `deno task test:mutants` shows which mistakes each catches.
 */
// mutants: fast 5
import { echoBits, streamKey } from "../../lib/echo_bits.ts";
import { assert } from "../_assert.ts";
import { runScript } from "../_run.ts";
import { tf } from "../../lib/tf.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { SimpleRNN, type State } from "../../lib/models.ts";
import { RMSprop } from "../../lib/optim.ts";
import { bceWithLogits } from "../../lib/loss.ts";
import { echoCheck } from "../../lib/train.ts";

await tf.setBackend("cpu");

/** A run small enough for a test, large enough that every mistake shows. */
const RUN = { seeds: [3, 4, 5, 6], echo: 3, hidden: 4, batch: 3, series: 60, bptt: 20, epochs: 3, lr: 0.02 };

interface Measured {
  /** Per epoch, per replica: digits right and the last chunk's loss. */
  train: { correct: number[]; loss: number[] }[];
  /** Per replica: digits right in the test pass. */
  test: number[];
  digits: number;
}

/** Mean BCE-with-logits in float64, written out: max(z, 0) - z y + log(1 + exp(-|z|)). */
function bce(z: ArrayLike<number>, y: ArrayLike<number>, from: number, n: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) s += Math.max(z[i], 0) - z[i] * y[i] + Math.log1p(Math.exp(-Math.abs(z[i])));
  return s / n;
}

/**
 * Cells 9-12 restated: for every epoch, every chunk in order, forward from the
 * carried state, mean BCE, RMSprop step, the new state carried on as a
 * constant; then a test pass that starts from the last training state.
 * `carryEpochs` / `carryTest` false restate the mistakes the test must catch.
 */
function notebookLoop(carryEpochs = true, carryTest = true): Measured {
  const { seeds, hidden, batch: B, bptt: T } = RUN;
  const S = seeds.length;
  const data = (stream: string) =>
    EchoData.forSeeds(seeds, {
      echoStep: RUN.echo,
      batchSize: B,
      seriesLength: RUN.series,
      truncatedLength: T,
      stream,
    });
  const train = data("train"), test = data("test");
  const model = new SimpleRNN({ hidden, seeds, kernel: "fused" });
  const opt = new RMSprop(model.variables, { lr: RUN.lr, kernel: "fused" });
  const chunk = (ds: EchoData[], i: number) => {
    const cs = ds.map((d) => d.chunk(i));
    const x = Float32Array.from(cs.flatMap((c) => [...c.x])), y = Float32Array.from(cs.flatMap((c) => [...c.y]));
    return { x: tf.tensor4d(x, [S, B, T, 1]), y: tf.tensor4d(y, [S, B, T, 1]), yv: y };
  };
  const count = (z: ArrayLike<number>, y: ArrayLike<number>, r: number) => {
    let n = 0;
    for (let i = r * B * T; i < (r + 1) * B * T; i++) n += (z[i] > 0 ? 1 : 0) === y[i] ? 1 : 0;
    return n;
  };
  const out: Measured = { train: [], test: Array(S).fill(0), digits: train[0].length * B * T };
  let state: State = null;
  for (let e = 0; e < RUN.epochs; e++) {
    if (!carryEpochs) state = null;
    const correct = Array(S).fill(0), loss = Array(S).fill(0);
    for (let i = 0; i < train[0].length; i++) {
      const { x, y, yv } = chunk(train, i);
      const h = state;
      let z!: Float32Array;
      const { grads } = tf.variableGrads(() => {
        const o = model.forward(x, h);
        z = o.logits.dataSync() as Float32Array;
        state = o.state.map((t) => tf.keep(tf.tensor3d(t.dataSync(), t.shape)));
        return tf.sum(bceWithLogits(o.logits, y)) as tf.Scalar;
      }, model.variables);
      opt.step(model.variables.map((v) => grads[v.name]));
      for (let r = 0; r < S; r++) {
        correct[r] += count(z, yv, r);
        loss[r] = bce(z, yv, r * B * T, B * T);
      }
    }
    out.train.push({ correct, loss });
  }
  if (!carryTest) state = null;
  for (let i = 0; i < test[0].length; i++) {
    const { x, yv } = chunk(test, i);
    const o = model.forward(x, state);
    const z = o.logits.dataSync();
    state = o.state;
    for (let r = 0; r < S; r++) out.test[r] += count(z, yv, r);
  }
  model.dispose();
  opt.dispose();
  return out;
}

Deno.test("experiment CSV equals the notebook's loop: state carried across epochs and into the test, accuracy = correct / all digits x 100, loss = last chunk's mean BCE", async () => {
  const r = await runScript("echo3", [
    ...["--seeds", RUN.seeds.join(","), "--echo-step", String(RUN.echo), "--hidden", String(RUN.hidden)],
    ...["--batch", String(RUN.batch), "--series", String(RUN.series), "--bptt", String(RUN.bptt)],
    ...["--epochs", String(RUN.epochs), "--lr", String(RUN.lr), "--backend", "cpu", "--kernel", "fused"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const want = notebookLoop();

  // The mistakes must be visible in this configuration, or the comparison below proves nothing.
  const noEpochCarry = notebookLoop(false, true), noTestCarry = notebookLoop(true, false);
  assert.notDeepEqual(
    noEpochCarry.train.slice(1),
    want.train.slice(1),
    "resetting the state per epoch changed nothing",
  );
  assert.notDeepEqual(noTestCarry.test, want.test, "starting the test from zeros changed nothing");

  const pct = (c: number) => (c / want.digits) * 100;
  RUN.seeds.forEach((seed, k) => {
    const rows = r.rows.filter((x) => x.seed === String(seed));
    for (let e = 0; e < RUN.epochs; e++) {
      const row = rows.find((x) => x.phase === "train" && x.epoch === String(e + 1))!;
      const where = `seed ${seed} epoch ${e + 1}`;
      const acc = pct(want.train[e].correct[k]), loss = want.train[e].loss[k];
      assert.ok(Math.abs(Number(row.train_acc) - acc) < 1e-3, `${where}: train_acc ${row.train_acc}, loop says ${acc}`);
      assert.ok(
        Math.abs(Number(row.train_loss) - loss) <= 1e-5 * Math.abs(loss) + 1e-7,
        `${where}: train_loss ${row.train_loss}, loop says ${loss}`,
      );
    }
    const test = rows.find((x) => x.phase === "test")!;
    const acc = pct(want.test[k]);
    assert.ok(
      Math.abs(Number(test.test_acc) - acc) < 1e-3,
      `seed ${seed}: test_acc ${test.test_acc}, loop says ${acc}`,
    );
  });
});

/**
 * A ReLU RNN that echoes exactly: unit 0 holds x_t, unit i holds x_(t-i), and
 * the head reads unit k with logit 2 x_(t-k) - 1 (so -1, "0", before step k).
 */
function shiftRegister(k: number, seeds: number[]): SimpleRNN {
  const H = k + 1, m = new SimpleRNN({ hidden: H, seeds });
  const wih = Array(H).fill(0), whh = Array(H * H).fill(0), w = Array(H).fill(0);
  wih[0] = 1;
  for (let i = 1; i < H; i++) whh[i * H + i - 1] = 1;
  w[k] = 2;
  seeds.forEach((_, r) => {
    m.setParam("rnn.weight_ih_l0", r, wih);
    m.setParam("rnn.weight_hh_l0", r, whh);
    m.setParam("rnn.bias_ih_l0", r, Array(H).fill(0));
    m.setParam("rnn.bias_hh_l0", r, Array(H).fill(0));
    m.setParam("linear.weight", r, w);
    m.setParam("linear.bias", r, [-1]);
  });
  return m;
}

Deno.test("random-sequence check: a model that echoes k steps late scores every digit from k on; one that always says 1 scores the ones", async () => {
  for (const k of [1, 3, 10]) {
    const seeds = [7, 8], L = 100;
    const echo = shiftRegister(k, seeds);
    const checks = await echoCheck(echo, seeds, k, L);
    checks.forEach((c, r) => {
      const input = new Uint8Array(L);
      echoBits({ seed: seeds[r], stream: streamKey("echo-check"), draw: 0, row: 0 }, L, input);
      assert.deepEqual(c.input, input, "the sequence comes from the replica's seed");
      assert.deepEqual([...c.output], [...input].map((_, t) => (t >= k ? input[t - k] : 0)), `echo ${k}: outputs`);
      assert.equal(c.checked, L - k);
      assert.equal(c.correct, L - k, `echo ${k}: a perfect echo must score ${L - k}`);
    });

    // Always 1: right exactly where the input k steps back was 1.
    echo.setParam("linear.weight", 0, Array(k + 1).fill(0));
    echo.setParam("linear.bias", 0, [1]);
    const [c] = await echoCheck(echo, seeds, k, L);
    const ones = [...c.input].slice(0, L - k).reduce((a, b) => a + b, 0);
    assert.ok(ones > 0 && ones < L - k, "the check needs both digits");
    assert.equal(c.correct, ones, `echo ${k}: constant 1`);
    echo.dispose();
  }
});
