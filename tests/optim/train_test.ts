// mutants: fast 4
import { assert, assertClose } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { SimpleRNN, type State } from "../../lib/models.ts";
import { RMSprop } from "../../lib/optim.ts";
import { bceWithLogits } from "../../lib/loss.ts";
import { stackChunks, trainEpoch } from "../../lib/train.ts";

await tf.setBackend("cpu");

const small = (seeds: number[], echoStep = 3) =>
  seeds.map((seed) => new EchoData({ echoStep, batchSize: 3, seriesLength: 100, truncatedLength: 20, seed }));

function params(m: SimpleRNN): number[][] {
  return m.variables.map((v) => [...v.dataSync()]);
}

/** A plain re-statement of truncated BPTT, with the carried state rebuilt as fresh constants. */
function referenceEpoch(m: SimpleRNN, opt: RMSprop, datas: EchoData[], carry: boolean): void {
  let state: State = null;
  for (let i = 0; i < datas[0].length; i++) {
    const { x, y } = stackChunks(datas, i);
    const h: State = state ? state.map((t) => tf.tensor3d(t.dataSync(), t.shape)) : null;
    const { grads } = tf.variableGrads(
      () => tf.sum(bceWithLogits(m.forward(x, h).logits, y)) as tf.Scalar,
      m.variables,
    );
    state = carry ? m.forward(x, h).state : null; // the state of the forward pass, before the update
    opt.step(m.variables.map((v) => grads[v.name]));
  }
}

/** The largest |a - b| over every entry of every parameter. */
function maxGap(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((p, i) => p.map((v, j) => Math.abs(v - b[i][j]))));
}

Deno.test("trainEpoch carries the state across chunks as a constant (truncated BPTT)", async () => {
  // The step under test sums in float32 in its own order (the CPU family's wasm step, or autodiff around fused
  // layers), and RMSprop divides each gradient by its RMS, so after 5 steps at lr 0.01 a parameter lands up to
  // about 1e-6 from the reference's autodiff (LSTM: 1.2e-6), while carrying the state or not moves them by about
  // 0.2 (measured). So the trained parameters must sit within 1e-5 of the carried-state reference and at least
  // 1000 times nearer to it than to the reset-state one. Both of trainEpoch's paths run: the kernel's whole epoch where it
  // has one, and the per-step path (taken when a debug hook is set).
  for (const cell of ["rnn", "lstm", "gru"] as const) {
    const run = async (f: (m: SimpleRNN, o: RMSprop) => Promise<void> | void) => {
      const m = new SimpleRNN({ cell, hidden: 5, layers: 2, seeds: [4, 9] });
      const o = new RMSprop(m.variables, { lr: 0.01 });
      await f(m, o);
      const p = params(m);
      m.dispose();
      o.dispose();
      return p;
    };
    const reference = await run((m, o) => referenceEpoch(m, o, small([4, 9]), true));
    const reset = await run((m, o) => referenceEpoch(m, o, small([4, 9]), false));
    for (const perStep of [false, true]) {
      const opts = perStep ? { onGrads: () => {} } : {};
      const trained = await run(async (m, o) => tf.dispose((await trainEpoch(m, o, small([4, 9]), null, opts)).state));
      const where = `${cell}${perStep ? " (per-step path)" : ""}`;
      const near = maxGap(trained, reference), far = maxGap(trained, reset);
      assert.ok(near <= 1e-5, `${where}: ${near.toExponential(2)} from the carried-state reference`);
      assert.ok(far > 1e-4, `${where}: resetting the state each chunk changed nothing (gap ${far})`);
      assert.ok(
        near * 1000 <= far,
        `${where}: ${near.toExponential(2)} from carried, ${far.toExponential(2)} from reset`,
      );
    }
  }
});

Deno.test("replicas trained together end where each trained alone ends", async () => {
  const seeds = [2, 3, 5];
  const m = new SimpleRNN({ hidden: 6, seeds });
  const o = new RMSprop(m.variables);
  const datas = small(seeds);
  let state: State = null;
  for (let e = 0; e < 2; e++) state = (await trainEpoch(m, o, datas, state)).state;
  const together = params(m);
  for (const [r, seed] of seeds.entries()) {
    const a = new SimpleRNN({ hidden: 6, seeds: [seed] });
    const oa = new RMSprop(a.variables);
    const da = small([seed]);
    let sa: State = null;
    for (let e = 0; e < 2; e++) sa = (await trainEpoch(a, oa, da, sa)).state;
    params(a).forEach((p, i) => {
      const size = p.length;
      assertClose(together[i].slice(r * size, (r + 1) * size), p, 1e-6, `seed ${seed} param ${i}`);
    });
    tf.dispose(sa!);
    a.dispose();
    oa.dispose();
  }
  tf.dispose(state!);
  m.dispose();
  o.dispose();
});

Deno.test("a replica whose loss goes NaN is stopped; the others train on unchanged", async () => {
  const m = new SimpleRNN({ hidden: 4, seeds: [1, 2] });
  const lone = new SimpleRNN({ hidden: 4, seeds: [1] });
  m.setParam("linear.bias", 1, [NaN]);
  const o = new RMSprop(m.variables), ol = new RMSprop(lone.variables);
  const alive = [true, true];
  const res = await trainEpoch(m, o, small([1, 2]), null, { alive });
  const resLone = await trainEpoch(lone, ol, small([1]), null);
  assert.deepEqual(alive, [true, false]);
  assert.ok(Number.isNaN(res.loss[1]) && Number.isFinite(res.loss[0]));
  const w = m.params.get("rnn.weight_hh_l0")!.dataSync().slice(0, 16);
  assertClose(w, lone.params.get("rnn.weight_hh_l0")!.dataSync(), 1e-6, "live replica");
  tf.dispose([...res.state, ...resLone.state]);
  [m, lone, o, ol].forEach((x) => x.dispose());
});

Deno.test("tf.memory().numTensors stays flat across epochs", async () => {
  for (const cell of ["rnn", "lstm", "gru"] as const) {
    const m = new SimpleRNN({ cell, hidden: 4, layers: 2, seeds: [1, 2] });
    const o = new RMSprop(m.variables);
    const datas = small([1, 2]);
    let state: State = null;
    const counts: number[] = [];
    for (let e = 0; e < 4; e++) {
      state = (await trainEpoch(m, o, datas, state, { clip: 1 })).state;
      counts.push(tf.memory().numTensors);
    }
    assert.deepEqual(counts, Array(4).fill(counts[0]), `${cell}: tensors per epoch ${counts}`);
    tf.dispose(state!);
    m.dispose();
    o.dispose();
  }
});
