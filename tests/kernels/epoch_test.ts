// mutants: fast 2
/**
 * The CPU family's whole epoch in wasm (`lib/kernels/cpu/epoch.ts`, what
 * `trainEpoch` runs on cpu and wasm) against trainEpoch's per-step path
 * (`cpuStep` chunk by chunk, taken when the `onGrads` debug hook is set), bit
 * for bit: parameters, state, losses, right digits and alive flags after each
 * of two epochs (so the optimizer's moments and Adam's step count carry too),
 * for every cell, 1 and 2 layers, both optimizers, clip on and off, a replica
 * that diverges in the second epoch (its loss NaN: it keeps its parameters and
 * moments from then on) and one passed in already frozen, a fixed series and
 * a fresh one each epoch.
 */
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { useBackend } from "../../lib/backend.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { type CellKind, CELLS, SimpleRNN, type State } from "../../lib/models.ts";
import { makeOptimizer, type OptimizerName } from "../../lib/optim.ts";
import { trainEpoch } from "../../lib/train.ts";
import { cpuEpoch } from "../../lib/kernels/cpu/epoch.ts";

const SEEDS = [11, 22, 33, 44];

interface Setup {
  cell: CellKind;
  layers: number;
  optimizer: OptimizerName;
  clip: number;
  /** Replica 2's head bias set NaN before the second epoch. */
  diverge: boolean;
  fixedSeries: boolean;
}

/** Everything two epochs give, as plain numbers. */
interface Run {
  params: Float32Array[][];
  state: Float32Array[][];
  loss: number[][];
  correct: number[][];
  alive: boolean[][];
  reads: number[];
}

/** Two epochs of `s` through trainEpoch: its wasm epoch, or (perStep) its per-step path. */
async function run(s: Setup, perStep: boolean): Promise<Run> {
  const model = new SimpleRNN({ cell: s.cell, hidden: 5, layers: s.layers, seeds: SEEDS });
  const optimizer = makeOptimizer(s.optimizer, model.variables, 0.01);
  const datas = EchoData.forSeeds(SEEDS, {
    echoStep: 2,
    batchSize: 3,
    seriesLength: 24,
    truncatedLength: 6,
    fixedSeries: s.fixedSeries,
  });
  const out: Run = { params: [], state: [], loss: [], correct: [], alive: [], reads: [] };
  const alive = [true, true, true, false];
  let state: State = null;
  for (let e = 0; e < 2; e++) {
    if (e === 1 && s.diverge) model.setParam("linear.bias", 2, [NaN]);
    const res = await trainEpoch(model, optimizer, datas, state, {
      clip: s.clip,
      alive,
      onStep: (done) => out.reads.push(done),
      ...(perStep ? { onGrads: () => {} } : {}),
    });
    state = res.state;
    out.params.push(model.variables.map((v) => Float32Array.from(v.dataSync())));
    out.state.push(state.map((t) => Float32Array.from(t.dataSync())));
    out.loss.push(res.loss);
    out.correct.push(res.correct);
    out.alive.push([...alive]);
  }
  tf.dispose(state!);
  optimizer.dispose();
  model.dispose();
  return out;
}

/** Whether two runs agree bit for bit (NaN equal to NaN), naming the first difference. */
function differs(a: Run, b: Run): string | null {
  const eq = (x: number, y: number) => Object.is(x, y);
  for (let e = 0; e < 2; e++) {
    for (const [what, xs, ys] of [["params", a.params[e], b.params[e]], ["state", a.state[e], b.state[e]]] as const) {
      for (let i = 0; i < xs.length; i++) {
        const j = xs[i].findIndex((v, k) => !eq(v, ys[i][k]));
        if (j >= 0) return `epoch ${e}: ${what} ${i}[${j}]: ${xs[i][j]} vs ${ys[i][j]}`;
      }
    }
    if (!a.loss[e].every((v, r) => eq(v, b.loss[e][r]))) return `epoch ${e}: loss ${a.loss[e]} vs ${b.loss[e]}`;
    if (!a.correct[e].every((v, r) => v === b.correct[e][r])) return `epoch ${e}: correct`;
    if (!a.alive[e].every((v, r) => v === b.alive[e][r])) return `epoch ${e}: alive ${a.alive[e]}`;
  }
  return null;
}

await useBackend("cpu");

Deno.test("cpu epoch: trainEpoch takes the wasm epoch on cpu, and the per-step path with a debug hook", async () => {
  let calls = 0;
  const model = new SimpleRNN({ cell: "gru", hidden: 3, seeds: [1, 2] });
  const choice = model.kernelChoice();
  assert.equal(choice.kernel.epoch, cpuEpoch);
  const spy = { ...choice.kernel, epoch: (...args: Parameters<typeof cpuEpoch>) => (calls++, cpuEpoch(...args)) };
  model.kernelChoice = () => ({ ...choice, kernel: spy });
  const optimizer = makeOptimizer("rmsprop", model.variables, 0.01);
  const datas = EchoData.forSeeds([1, 2], { echoStep: 1, batchSize: 2, seriesLength: 8, truncatedLength: 4 });
  let state = (await trainEpoch(model, optimizer, datas, null)).state;
  assert.equal(calls, 1);
  state = (await trainEpoch(model, optimizer, datas, state, { onGrads: () => {} })).state;
  assert.equal(calls, 1);
  tf.dispose(state);
  optimizer.dispose();
  model.dispose();
});

for (const cell of CELLS) {
  Deno.test(`cpu epoch: ${cell}, equal to the per-step path bit for bit (1-2 layers, both optimizers, clip on/off)`, async () => {
    for (const layers of [1, 2]) {
      for (const optimizer of ["rmsprop", "adam"] as const) {
        for (const clip of [0, 0.05]) {
          const s: Setup = { cell, layers, optimizer, clip, diverge: clip > 0, fixedSeries: optimizer === "adam" };
          const before = tf.memory().numTensors;
          const whole = await run(s, false), steps = await run(s, true);
          assert.equal(tf.memory().numTensors, before, "tensors leaked");
          const where = `${cell} L${layers} ${optimizer} clip ${clip}`;
          const d = differs(whole, steps);
          assert.ok(d === null, `${where}: ${d}`);
          // The divergence happened, and the frozen replicas never moved; the live ones did.
          const last = whole.alive[1];
          assert.deepEqual(last, [true, true, !s.diverge, false], `${where}: alive`);
          if (s.diverge) assert.ok(Number.isNaN(whole.loss[1][2]), `${where}: diverged replica's loss`);
          // Progress: the last read is after the last chunk.
          assert.equal(whole.reads.at(-1), 4, `${where}: reads ${whole.reads}`);
        }
      }
    }
  });
}
