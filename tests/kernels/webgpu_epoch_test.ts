// mutants: fast 10
/**
 * The WebGPU family's whole epoch (`lib/kernels/webgpu/epoch.ts`: the data made on the device, the fused step per
 * chunk, the tallies on the device) against trainEpoch's per-step path on webgpu (`webgpuStep` chunk by chunk on
 * chunks built on the host and uploaded, `DeviceTally`), bit for bit: the same WGSL step on the same bits, so
 * parameters, state, losses, right digits, alive flags and each EchoData's draw counter after each of two epochs
 * (the optimizer's moments and Adam's step count carry), with a replica that diverges in the second epoch (its loss
 * NaN: it keeps its parameters from then on) and one passed in already frozen, a fixed series and a fresh one. And
 * an epoch uploads no data: the tensors it writes from the host are the seeds and the tallies, O(S) bytes, where
 * the per-step path uploads every chunk's x and y.
 *
 * `deno task test` (about 15 s on llvmpipe, compiles included): rnn H 4 with 2 layers (Adam, clip, fresh series, a
 * replica diverging) and lstm H 3 (RMSprop, fixed series), 4 replicas, 4 chunks. `ECHOLAB_SLOW=1` adds every cell
 * at 1-2 layers with both optimizers, and several tiles.
 */
import { webgpuTests } from "../_webgpu.ts";
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { findWebGpuAdapter } from "../../lib/backend.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { type CellKind, CELLS, SimpleRNN, type State } from "../../lib/models.ts";
import { makeOptimizer, type OptimizerName } from "../../lib/optim.ts";
import { trainEpoch } from "../../lib/train.ts";
import { epochCounts, resetEpochCounts, webgpuEpoch } from "../../lib/kernels/webgpu/epoch.ts";
import { resetStepCounts, setStepLimits, stepCounts } from "../../lib/kernels/webgpu/step.ts";
import { measureWebGpuEpochs } from "../../lib/kernels/webgpu/step_measure.ts";

const slow = Deno.env.get("ECHOLAB_SLOW") === "1";
const adapter = await findWebGpuAdapter();
const skip = typeof adapter === "string" ? adapter : null;
if (skip) console.log(`webgpu epoch tests skipped: ${skip}`);

const SEEDS = [11, 22, 33, 44];
const [B, T, CHUNKS] = [3, 8, 4];

interface Setup {
  cell: CellKind;
  hidden: number;
  layers: number;
  optimizer: OptimizerName;
  clip: number;
  /** Replica 2's head bias set NaN before the second epoch. */
  diverge: boolean;
  fixedSeries: boolean;
}
const where = (s: Setup) =>
  `${s.cell} H${s.hidden} L${s.layers} ${s.optimizer} clip ${s.clip} ${s.fixedSeries ? "fixed" : "fresh"}`;

/** Everything two epochs give, as plain numbers. */
interface Run {
  params: Float32Array[][];
  state: Float32Array[][];
  loss: number[][];
  correct: number[][];
  alive: boolean[][];
  draws: number[][];
  reads: number[];
}

/**
 * What the host wrote into device buffers during a call: tensor uploads (`uploadToGPU`) and `writeBuffer` bytes; and
 * the compute dispatches it recorded.
 */
interface Uploads {
  tensorBytes: number;
  largestTensor: number;
  writeBytes: number;
  dispatches: number;
}

async function counting<X>(fn: () => Promise<X>): Promise<[X, Uploads]> {
  const be = tf.backend() as unknown as {
    uploadToGPU(dataId: object): void;
    tensorMap: { get(id: object): { values?: ArrayLike<number> | null; resource?: unknown } };
  };
  const upload = be.uploadToGPU, write = GPUQueue.prototype.writeBuffer;
  const proto = GPUComputePassEncoder.prototype, dispatch = proto.dispatchWorkgroups;
  const u: Uploads = { tensorBytes: 0, largestTensor: 0, writeBytes: 0, dispatches: 0 };
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a: Parameters<typeof dispatch>) {
    u.dispatches++;
    return dispatch.apply(this, a);
  };
  be.uploadToGPU = function (dataId: object) {
    const data = be.tensorMap.get(dataId), values = data?.values;
    // An upload: values on the host and no buffer yet (a tensor read back keeps both; nothing is written then).
    if (values && data.resource == null) {
      u.tensorBytes += 4 * values.length;
      u.largestTensor = Math.max(u.largestTensor, 4 * values.length);
    }
    return upload.call(this, dataId);
  };
  GPUQueue.prototype.writeBuffer = function (this: GPUQueue, ...args: Parameters<typeof write>) {
    const [, , data, , size] = args as unknown as [unknown, unknown, ArrayBufferLike | ArrayBufferView, number, number];
    u.writeBytes += size ?? data.byteLength;
    return write.apply(this, args);
  };
  try {
    return [await fn(), u];
  } finally {
    be.uploadToGPU = upload;
    GPUQueue.prototype.writeBuffer = write;
    proto.dispatchWorkgroups = dispatch;
  }
}

/** Two epochs of `s` through trainEpoch: the WebGPU epoch, or (perStep) the per-step path, a kernel without it. */
async function run(s: Setup, perStep: boolean, seeds = SEEDS): Promise<{ run: Run; uploads: Uploads[] }> {
  const model = new SimpleRNN({ cell: s.cell, hidden: s.hidden, layers: s.layers, seeds });
  if (perStep) {
    const choice = model.kernelChoice();
    model.kernelChoice = () => ({ ...choice, kernel: { ...choice.kernel, epoch: undefined } });
  } else assert.equal(model.kernelChoice().kernel.epoch, webgpuEpoch);
  const optimizer = makeOptimizer(s.optimizer, model.variables, 0.01);
  const datas = EchoData.forSeeds(seeds, {
    echoStep: 2,
    batchSize: B,
    seriesLength: CHUNKS * T,
    truncatedLength: T,
    fixedSeries: s.fixedSeries,
  });
  const out: Run = { params: [], state: [], loss: [], correct: [], alive: [], draws: [], reads: [] };
  const uploads: Uploads[] = [];
  const alive = seeds.map((_, r) => r !== 3);
  let state: State = null;
  for (let e = 0; e < 2; e++) {
    if (e === 1 && s.diverge) model.setParam("linear.bias", 2, [NaN]);
    const [res, u] = await counting(() =>
      trainEpoch(model, optimizer, datas, state, { clip: s.clip, alive, onStep: (done) => out.reads.push(done) })
    );
    uploads.push(u);
    state = res.state;
    const read = (ts: tf.Tensor[]) => Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
    out.params.push(await read(model.variables));
    out.state.push(await read(state));
    out.loss.push(res.loss);
    out.correct.push(res.correct);
    out.alive.push([...alive]);
    out.draws.push(datas.map((d) => d.draw));
  }
  tf.dispose(state!);
  optimizer.dispose();
  model.dispose();
  return { run: out, uploads };
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
    if (!a.correct[e].every((v, r) => v === b.correct[e][r])) {
      return `epoch ${e}: correct ${a.correct[e]} vs ${b.correct[e]}`;
    }
    if (!a.alive[e].every((v, r) => v === b.alive[e][r])) return `epoch ${e}: alive ${a.alive[e]} vs ${b.alive[e]}`;
    if (!a.draws[e].every((v, r) => v === b.draws[e][r])) return `epoch ${e}: draws ${a.draws[e]} vs ${b.draws[e]}`;
  }
  return null;
}

/** Each setup by the WebGPU epoch and by the per-step path; bit for bit, no data uploaded, no tensor left. */
async function compare(setups: Setup[], seeds = SEEDS): Promise<void> {
  for (const s of setups) {
    const before = tf.memory().numTensors;
    resetEpochCounts();
    const whole = await run(s, false, seeds);
    assert.equal(epochCounts().epochs, 2, `${where(s)}: the WebGPU epoch did not run`);
    assert.equal(epochCounts().chunks, 2 * CHUNKS);
    const steps = await run(s, true, seeds);
    assert.equal(epochCounts().epochs, 2, `${where(s)}: the per-step path ran the WebGPU epoch`);
    assert.equal(tf.memory().numTensors, before, `${where(s)}: tensors leaked`);
    const d = differs(whole.run, steps.run);
    assert.ok(d === null, `${where(s)}: ${d}`);
    const S = seeds.length;
    const last = whole.run.alive[1];
    assert.deepEqual(last, seeds.map((_, r) => r !== 3 && !(s.diverge && r === 2)), `${where(s)}: alive`);
    if (s.diverge) assert.ok(Number.isNaN(whole.run.loss[1][2]), `${where(s)}: diverged replica's loss`);
    assert.deepEqual(whole.run.draws.map((d) => d[0]), s.fixedSeries ? [0, 0] : [1, 2], `${where(s)}: draws`);
    assert.equal(whole.run.reads.at(-1), CHUNKS, `${where(s)}: reads ${whole.run.reads}`);
    // No data uploaded: what the second epoch (the first also uploads the model's new variables, lazily) writes
    // from the host as tensors is the seeds and the tallies (4 S + 12 S bytes), less than one chunk's x; the
    // per-step path uploads every chunk's x and y.
    const chunkBytes = 4 * S * B * T, [u, v] = [whole.uploads[1], steps.uploads[1]];
    assert.ok(
      u.tensorBytes <= 16 * S && u.largestTensor < chunkBytes,
      `${where(s)}: epoch uploads ${JSON.stringify(u)}`,
    );
    assert.ok(v.tensorBytes >= 2 * CHUNKS * chunkBytes, JSON.stringify(v));
    console.log(
      `${
        where(s)
      }: bit for bit; second epoch: tensors uploaded ${u.tensorBytes} B (per-step path ${v.tensorBytes} B), ` +
        `uniforms ${(u.writeBytes / CHUNKS).toFixed(0)} B and ${u.dispatches / CHUNKS} dispatches per chunk ` +
        `(per-step path ${v.dispatches / CHUNKS})`,
    );
  }
}

const gpuTest = webgpuTests("webgpu epoch", skip, () => setStepLimits(null));

gpuTest("rnn H 4 L2 adam clip fresh series with a replica diverging, lstm H 3 rmsprop fixed series", () =>
  compare([
    { cell: "rnn", hidden: 4, layers: 2, optimizer: "adam", clip: 0.05, diverge: true, fixedSeries: false },
    { cell: "lstm", hidden: 3, layers: 1, optimizer: "rmsprop", clip: 0, diverge: false, fixedSeries: true },
  ]));

gpuTest("6 dispatches a chunk (2 data, 2 step, 2 tally); past H 64 it declines and changes nothing", async () => {
  const s: Setup = {
    cell: "rnn",
    hidden: 4,
    layers: 2,
    optimizer: "adam",
    clip: 0.05,
    diverge: false,
    fixedSeries: false,
  };
  resetEpochCounts();
  resetStepCounts();
  const { run: r, uploads } = await run(s, false);
  assert.equal(r.reads.length, 2, "one read per epoch at 4 chunks");
  assert.equal(stepCounts().dispatches / epochCounts().chunks, 2);
  // The second epoch's: the first also fills the optimizer's new moments.
  assert.equal(uploads[1].dispatches / CHUNKS, 6, `device dispatches per chunk: ${uploads[1].dispatches / CHUNKS}`);

  const wide = new SimpleRNN({ cell: "rnn", hidden: 65, seeds: [1, 2] });
  const opt = makeOptimizer("rmsprop", wide.variables, 0.01);
  const datas = EchoData.forSeeds([1, 2], { echoStep: 1, batchSize: 2, seriesLength: 8, truncatedLength: 4 });
  const input = { datas, state: null, alive: [true, true], loss: [NaN, NaN], correct: [0, 0] };
  assert.equal(await webgpuEpoch(wide, opt, input), null);
  assert.deepEqual(datas.map((d) => d.draw), [0, 0], "a declined epoch drew a series");
  opt.dispose();
  wide.dispose();
});

gpuTest(
  "measureWebGpuEpochs: dispatches and host ms per step of the epochs it ran, null for the per-step path",
  async () => {
    const model = new SimpleRNN({ cell: "rnn", hidden: 4, seeds: SEEDS });
    const optimizer = makeOptimizer("rmsprop", model.variables, 0.01);
    const datas = EchoData.forSeeds(SEEDS, { echoStep: 2, batchSize: B, seriesLength: CHUNKS * T, truncatedLength: T });
    let state: State = (await trainEpoch(model, optimizer, datas, null)).state;
    const epochs = await measureWebGpuEpochs(async () => {
      for (let e = 0; e < 2; e++) state = (await trainEpoch(model, optimizer, datas, state)).state;
    });
    const m = epochs.measure!;
    assert.equal(m.chunks, 2 * CHUNKS);
    assert.deepEqual([m.dispatches, m.stepDispatches, m.tiles], [6, 2, 1]);
    assert.ok(m.hostMs > 0 && m.submitMs >= 0, JSON.stringify(m));
    const choice = model.kernelChoice();
    model.kernelChoice = () => ({ ...choice, kernel: { ...choice.kernel, epoch: undefined } });
    const steps = await measureWebGpuEpochs(async () => {
      state = (await trainEpoch(model, optimizer, datas, state)).state;
    });
    assert.equal(steps.measure, null);
    tf.dispose(state!);
    optimizer.dispose();
    model.dispose();
  },
);

if (slow) {
  for (const cell of CELLS) {
    gpuTest(`slow: ${cell} H 5, layers 1-2, rmsprop/adam, clip off/on, fixed and fresh`, () =>
      compare(
        [1, 2].flatMap((layers) =>
          (["rmsprop", "adam"] as const).map((optimizer, k) => ({
            cell,
            hidden: 5,
            layers,
            optimizer,
            clip: k ? 0.05 : 0,
            diverge: layers === 2,
            fixedSeries: k === 1,
          }))
        ),
      ));
  }
  gpuTest("slow: 7 replicas in tiles of 2 (gru H 6 L2 adam clip)", () => {
    setStepLimits({ maxComputeWorkgroupsPerDimension: 2 });
    return compare(
      [{ cell: "gru", hidden: 6, layers: 2, optimizer: "adam", clip: 0.05, diverge: true, fixedSeries: false }],
      [5, 6, 7, 8, 9, 10, 11],
    );
  });
}
