// mutants: fast 10
/**
 * The fused WebGPU training step (lib/kernels/webgpu/step.ts, issue 17 parts 2-4): its WGSL against the op-level
 * reference on cpu (autogradStep, tfjs ops), its tiles, its dispatch count, a dead replica, its fallback, and the
 * plan that sizes it against an adapter's limits (that one runs without an adapter).
 *
 * Each comparison runs STEPS steps of a combo from the same seeds on cpu with --kernel op (the reference) and on
 * webgpu through webgpuStep, the state carried by each run, each GPU step starting from the reference's parameters,
 * with the tolerances of tests/kernels/equivalence_test.ts (see its top): loss rtol 1e-5 (+1e-9); gradients, clipped
 * gradients (rtol 1e-4) and state (rtol 1e-5) entry-relative plus tensor-relative plus 8 float32 ulps of the
 * replica's largest entry; parameters within 1e-5 x (|p| + |p before| + lr) of the reference optimizer's update
 * from the same start with the GPU's own clipped gradients; right digits exactly.
 *
 * `deno task test` (about 20 s here on llvmpipe, compiles included): rnn H 5 with 2 layers (Adam, clip on; W_hh in
 * workgroup memory), lstm H 4 (RMSprop, clip off) and gru H 9 with 2 layers (Adam, clip on; W_hh read from the
 * storage buffer: on a software adapter only W_hh of up to 64 floats goes to workgroup memory); 5 replicas in 3
 * tiles against 1 tile, bit for bit; 2 dispatches per tile and no other; a dead replica; H 65 falls back.
 * `ECHOLAB_SLOW=1` adds every cell x layers 1-3 x RMSprop/Adam x clip off/on at H 3 and 5, and H 33 and 64.
 */
import { webgpuTests } from "../_webgpu.ts";
import { assert } from "../_assert.ts";
import { PARITY_TOL } from "../_fixtures.ts";
import { tf } from "../../lib/tf.ts";
import { findWebGpuAdapter } from "../../lib/backend.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { type CellKind, CELLS, SimpleRNN } from "../../lib/models.ts";
import { makeOptimizer, type Optimizer, type OptimizerName, OPTIMIZERS } from "../../lib/optim.ts";
import { stackChunks } from "../../lib/train.ts";
import { autogradStep } from "../../lib/kernels/op/step.ts";
import type { StepInput, StepOutput } from "../../lib/kernels/kernel.ts";
import { resetStepCounts, setStepLimits, stepCounts, stepPlanFor, webgpuStep } from "../../lib/kernels/webgpu/step.ts";
import {
  planStep,
  STEP_BUFFERS,
  type StepDims,
  type StepLimits,
  stepRefusal,
} from "../../lib/kernels/webgpu/step_plan.ts";
import { measureWebGpuStep } from "../../lib/kernels/webgpu/step_measure.ts";

const slow = Deno.env.get("ECHOLAB_SLOW") === "1";
const adapter = await findWebGpuAdapter();
const skip = typeof adapter === "string" ? adapter : null;
if (skip) console.log(`webgpu step tests skipped: ${skip}`);

const SEEDS = [101, 202, 303];
const [B, T, STEPS, LR, CLIP] = [2, 5, 2, 0.001, 0.01];
const FLOOR = 8 * 2 ** -23;

interface Combo {
  cell: CellKind;
  hidden: number;
  layers: number;
  optimizer: OptimizerName;
  clip: boolean;
}
const where = (c: Combo) => `${c.cell} H${c.hidden} L${c.layers} ${c.optimizer} clip ${c.clip ? CLIP : "off"}`;

/** What a run computed, read back, per step. */
interface Trace {
  shapes: number[][];
  init: Float32Array[];
  loss: Float32Array[];
  right: Float32Array[];
  grads: Float32Array[][];
  applied: Float32Array[][];
  params: Float32Array[][];
  state: Float32Array[][];
}

const read = (ts: tf.Tensor[]) => Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));

function tidied<T>(make: () => T): T {
  let out!: T;
  tf.tidy(() => {
    out = make();
  });
  return out;
}

/**
 * STEPS steps of `c` with `step` on the active backend (each from `sync`'s parameters where given), with a
 * live mask from `alive`; returns what it computed and leaves no tensor behind.
 */
async function run(
  c: Combo,
  step: (m: SimpleRNN, o: Optimizer, i: StepInput) => StepOutput,
  opts: { seeds?: number[]; sync?: Trace; alive?: boolean[]; kernel?: "op" | "fused" } = {},
): Promise<Trace> {
  const seeds = opts.seeds ?? SEEDS, kernel = opts.kernel ?? "fused";
  const before = tf.memory().numTensors;
  const model = tidied(() => new SimpleRNN({ cell: c.cell, hidden: c.hidden, layers: c.layers, seeds, kernel }));
  const optimizer = tidied(() => makeOptimizer(c.optimizer, model.variables, LR, kernel));
  const datas = EchoData.forSeeds(seeds, { echoStep: 3, batchSize: B, seriesLength: STEPS * T, truncatedLength: T });
  const trace: Trace = {
    shapes: model.variables.map((v) => v.shape),
    init: await read(model.variables),
    loss: [],
    right: [],
    grads: [],
    applied: [],
    params: [],
    state: [],
  };
  let state: tf.Tensor3D[] | null = null;
  for (let k = 0; k < STEPS; k++) {
    if (opts.sync && k > 0) {
      tf.tidy(() => model.variables.forEach((v, i) => v.assign(tf.tensor(opts.sync!.params[k - 1][i], v.shape))));
    }
    const { x, y } = stackChunks(datas, k);
    let kept: tf.Tensor[][] = [];
    const out = step(model, optimizer, {
      x,
      y,
      state,
      clip: c.clip ? CLIP : 0,
      live: () => opts.alive ?? seeds.map(() => true),
      onGrads: (grads, applied) => {
        kept = [grads, applied].map((ts) => ts.map((t) => tf.keep(tf.clone(t))));
      },
    });
    tf.dispose([x, y, ...(state ?? [])]);
    state = out.state;
    trace.loss.push((await read([out.loss]))[0]);
    trace.right.push((await read([out.right]))[0]);
    trace.grads.push(await read(kept[0]));
    trace.applied.push(await read(kept[1]));
    trace.params.push(await read(model.variables));
    trace.state.push(await read(out.state));
    tf.dispose([out.loss, out.right, ...kept.flat()]);
  }
  tf.dispose(state ?? []);
  optimizer.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before, `${where(c)}: tensors leaked`);
  return trace;
}

/** The reference optimizer's parameters from `start[k]` with `got`'s clipped gradients, moments carried. */
async function expectedParams(c: Combo, got: Trace, start: Float32Array[][]): Promise<Float32Array[][]> {
  await tf.setBackend("cpu");
  const vars = tf.tidy(() => got.shapes.map((shape, i) => tf.variable(tf.tensor(start[0][i], shape))));
  const optimizer = tidied(() => makeOptimizer(c.optimizer, vars, LR, "op"));
  const out: Float32Array[][] = [];
  for (let k = 0; k < STEPS; k++) {
    tf.tidy(() => {
      vars.forEach((v, i) => v.assign(tf.tensor(start[k][i], v.shape)));
      optimizer.step(got.applied[k].map((g, i) => tf.tensor(g, got.shapes[i])));
    });
    out.push(vars.map((v) => Float32Array.from(v.dataSync())));
  }
  optimizer.dispose();
  tf.dispose(vars);
  return out;
}

/** max |x| per replica. */
function scales(x: Float32Array, S: number): number[] {
  const per = x.length / S;
  return Array.from({ length: S }, (_, r) => {
    let m = 0;
    for (let i = r * per; i < (r + 1) * per; i++) m = Math.max(m, Math.abs(x[i]));
    return m;
  });
}

/** Every disagreement of `got` with `ref` (see the top of the file), as lines; the worst fraction of each tolerance in `seen`. */
function disagreements(c: Combo, got: Trace, ref: Trace, expected: Float32Array[][], seen: Map<string, number>) {
  const out: string[] = [];
  const S = SEEDS.length;
  const check = (kind: string, name: string, a: Float32Array, b: Float32Array, tol: (i: number) => number) => {
    let worst = 0, at = -1;
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      const ratio = d === 0 ? 0 : Number.isNaN(d) ? Infinity : d / tol(i);
      if (ratio > worst) [worst, at] = [ratio, i];
    }
    seen.set(kind, Math.max(seen.get(kind) ?? 0, worst));
    if (worst > 1) out.push(`${where(c)} ${name} [${at}]: ${a[at]} vs ${b[at]}, ${worst.toPrecision(3)}x tolerance`);
  };
  const group = (kind: string, as: Float32Array[], bs: Float32Array[], rtol: number) => {
    const tensors = bs.map((b) => scales(b, S));
    const most = tensors.reduce((m, x) => m.map((v, r) => Math.max(v, x[r])));
    bs.forEach((b, n) => {
      const r = (i: number) => Math.floor(i / (b.length / S));
      check(kind, `${kind} [${n}]`, as[n], b, (i) => rtol * (Math.abs(b[i]) + tensors[n][r(i)]) + FLOOR * most[r(i)]);
    });
  };
  ref.init.forEach((p, i) => check("start", `parameter ${i} before training`, got.init[i], p, () => 0));
  for (let k = 0; k < STEPS; k++) {
    check("loss", `step ${k + 1} loss`, got.loss[k], ref.loss[k], (i) => 1e-5 * Math.abs(ref.loss[k][i]) + 1e-9);
    check("right", `step ${k + 1} right digits`, got.right[k], ref.right[k], () => 0.5);
    group("gradients", got.grads[k], ref.grads[k], PARITY_TOL.grads.rtol);
    group("clipped gradients", got.applied[k], ref.applied[k], PARITY_TOL.grads.rtol);
    group("state", got.state[k], ref.state[k], PARITY_TOL.outputs.rtol);
    const from = k ? ref.params[k - 1] : ref.init;
    expected[k].forEach((b, i) =>
      check(
        "parameters",
        `step ${k + 1} parameter ${i}`,
        got.params[k][i],
        b,
        (j) => 1e-5 * (Math.abs(b[j]) + Math.abs(from[i][j]) + LR),
      )
    );
  }
  return out;
}

/** Each combo on cpu (op, the reference) and on webgpu through webgpuStep; fails listing every disagreement. */
async function compare(combos: Combo[]): Promise<void> {
  const failures: string[] = [], seen = new Map<string, number>();
  for (const c of combos) {
    await tf.setBackend("cpu");
    const ref = await run(c, autogradStep, { kernel: "op" });
    await tf.setBackend("webgpu");
    resetStepCounts();
    const got = await run(c, webgpuStep, { sync: ref });
    assert.equal(stepCounts().steps, STEPS, `${where(c)}: the fused step did not run`);
    const expected = await expectedParams(c, got, [ref.init, ...ref.params.slice(0, -1)]);
    failures.push(...disagreements(c, got, ref, expected, seen));
  }
  console.log(
    `${combos.length} combos; worst fraction of the tolerance used: ${
      [...seen].map(([k, r]) => `${k} ${r.toPrecision(2)}`).join(", ")
    }`,
  );
  if (failures.length) assert.fail(`${failures.length} disagreements:\n${failures.slice(0, 20).join("\n")}`);
}

const gpuTest = webgpuTests("webgpu step", skip, () => setStepLimits(null));

gpuTest(
  "agrees with the op-level reference on cpu (rnn H 5 L2 adam clip, lstm H 4, gru H 9 L2 adam clip)",
  () =>
    compare([
      { cell: "rnn", hidden: 5, layers: 2, optimizer: "adam", clip: true },
      { cell: "lstm", hidden: 4, layers: 1, optimizer: "rmsprop", clip: false },
      { cell: "gru", hidden: 9, layers: 2, optimizer: "adam", clip: true },
    ]),
);

gpuTest("5 replicas in tiles of 2 give what one tile gives, bit for bit, in 2 dispatches per tile", async () => {
  const c: Combo = { cell: "rnn", hidden: 3, layers: 2, optimizer: "adam", clip: true };
  const seeds = [1, 2, 3, 4, 5];
  resetStepCounts();
  const one = await run(c, webgpuStep, { seeds });
  assert.equal(stepCounts().tiles, 1);
  assert.equal(stepCounts().dispatches, 2 * STEPS);
  // A binding limit that holds 2 replicas' worth of the largest per-tile buffer.
  const dims: StepDims = {
    cell: "rnn",
    hidden: 3,
    layers: 2,
    inputSize: 1,
    batch: B,
    bptt: T,
    replicas: 5,
    adam: true,
    debug: true,
  };
  const big = planStep(dims, LIMITS_128MIB);
  setStepLimits({ maxStorageBufferBindingSize: 2 * Math.max(...Object.values(big.perReplica)) + 4 });
  resetStepCounts();
  const tiled = await run(c, webgpuStep, { seeds });
  assert.equal(stepCounts().tiles, 3);
  assert.equal(stepCounts().dispatches, 2 * 3 * STEPS);
  for (const key of ["loss", "right", "grads", "applied", "params", "state"] as const) {
    assert.deepEqual(tiled[key], one[key], `${key} differs between 3 tiles and 1`);
  }
});

gpuTest("a step is its own 2 dispatches and no tfjs kernel; a dead replica keeps its parameters", async () => {
  const c: Combo = { cell: "rnn", hidden: 5, layers: 1, optimizer: "rmsprop", clip: false };
  const be = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
  const program = be.runWebGPUProgram, proto = GPUComputePassEncoder.prototype, dispatch = proto.dispatchWorkgroups;
  let tfjs = 0, device = 0;
  const model = tidied(() => new SimpleRNN({ cell: c.cell, hidden: c.hidden, seeds: SEEDS }));
  const optimizer = tidied(() => makeOptimizer(c.optimizer, model.variables, LR));
  const [x, y] = [tf.ones([3, B, T, 1]), tf.zeros([3, B, T, 1])] as tf.Tensor4D[];
  const before = await read(model.variables);
  be.runWebGPUProgram = function (...a: unknown[]) {
    tfjs++;
    return program.apply(this, a);
  };
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a: Parameters<typeof dispatch>) {
    device++;
    return dispatch.apply(this, a);
  };
  let out: StepOutput;
  try {
    out = webgpuStep(model, optimizer, { x, y, state: null, live: () => [true, false, true] });
  } finally {
    be.runWebGPUProgram = program;
    proto.dispatchWorkgroups = dispatch;
  }
  assert.deepEqual([tfjs, device], [0, 2], "tfjs kernels and device dispatches in one step");
  const after = await read(model.variables);
  before.forEach((p, i) => {
    const per = p.length / 3;
    const replica = (r: number, a: Float32Array) => Array.from(a.subarray(r * per, (r + 1) * per));
    assert.deepEqual(replica(1, after[i]), replica(1, p), `dead replica's parameter ${i} changed`);
    assert.notDeepEqual(replica(0, after[i]), replica(0, p), `live replica's parameter ${i} did not change`);
  });
  tf.dispose([x, y, out.loss, out.right, ...out.state]);
  optimizer.dispose();
  model.dispose();
});

gpuTest("past H 64 the step would be autogradStep's; measureWebGpuStep reports 2 dispatches per step", async () => {
  const [x, y] = [tf.ones([1, 1, 2, 1]), tf.zeros([1, 1, 2, 1])] as tf.Tensor4D[];
  const wide = tidied(() => new SimpleRNN({ cell: "rnn", hidden: 65, seeds: [1] }));
  const wideOpt = tidied(() => makeOptimizer("rmsprop", wide.variables, LR));
  const why = stepPlanFor(wide, wideOpt, { x, y, state: null, live: () => [true] });
  assert.match(typeof why === "string" ? why : "planned", /hidden sizes up to 64/);
  wideOpt.dispose();
  wide.dispose();
  const small = tidied(() => new SimpleRNN({ cell: "rnn", hidden: 4, seeds: [1, 2, 3, 4] }));
  const opt = tidied(() => makeOptimizer("adam", small.variables, LR));
  const [x4, y4] = [tf.ones([4, 1, 2, 1]), tf.zeros([4, 1, 2, 1])] as tf.Tensor4D[];
  const m = await measureWebGpuStep(small, opt, x4, y4, { steps: 2, clip: 1 });
  assert.equal(m.dispatches, 2);
  assert.equal(m.tiles, 1);
  assert.ok(m.hostMs >= 0 && m.deviceDispatches >= 2, JSON.stringify(m));
  tf.dispose([x, y, x4, y4]);
  opt.dispose();
  small.dispose();
});

if (slow) {
  for (const cell of CELLS) {
    gpuTest(`slow: ${cell} H 3 and 5, layers 1-3, rmsprop/adam, clip off/on`, () =>
      compare(
        [3, 5].flatMap((hidden) =>
          [1, 2, 3].flatMap((layers) =>
            OPTIMIZERS.flatMap((optimizer) => [false, true].map((clip) => ({ cell, hidden, layers, optimizer, clip })))
          )
        ),
      ));
  }
  gpuTest(
    "slow: H 33 and 64, every cell with 2 layers",
    () =>
      compare(
        [33, 64].flatMap((hidden) =>
          CELLS.map((cell, i) => ({ cell, hidden, layers: 2, optimizer: OPTIMIZERS[i % 2], clip: i < 2 }))
        ),
      ),
  );
}

/** llvmpipe's limits (maxBufferSize 2 GiB - 1), with WebGPU's default workgroup memory. */
const LIMITS_128MIB: StepLimits = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 2 ** 31 - 1,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
};

Deno.test("webgpu step plan: 16,384 replicas of every cell at H 60 (1-3 layers, both optimizers) fit 128 MiB bindings", () => {
  const lines: string[] = [];
  for (const cell of CELLS) {
    for (const layers of [1, 2, 3]) {
      for (const adam of [false, true]) {
        const dims = { cell, hidden: 60, layers, inputSize: 1, batch: 5, bptt: 20, replicas: 16384, adam, debug: true };
        const plan = planStep(dims, LIMITS_128MIB);
        assert.ok(plan.tile >= 1 && plan.tile * plan.tiles >= 16384 && plan.tile * (plan.tiles - 1) < 16384);
        for (const b of STEP_BUFFERS) {
          assert.ok(plan.perReplica[b] * plan.tile <= LIMITS_128MIB.maxStorageBufferBindingSize, `${cell} ${b}`);
        }
        assert.ok(plan.largestTensor <= LIMITS_128MIB.maxBufferSize);
        if (layers === 1) lines.push(`${cell}${adam ? " adam" : ""}: ${plan.tiles} tiles of ${plan.tile}`);
      }
    }
  }
  console.log(`H 60, 1 layer, B 5, T 20: ${lines.join("; ")}`);
});

Deno.test("webgpu step plan: what it refuses, and where W_hh goes", () => {
  const dims: StepDims = {
    cell: "lstm",
    hidden: 60,
    layers: 1,
    inputSize: 1,
    batch: 5,
    bptt: 20,
    replicas: 16384,
    adam: true,
  };
  // WebGPU's default maxBufferSize (256 MiB) cannot hold 16,384 replicas' LSTM W_hh (943 MB) as one tensor.
  assert.match(stepRefusal(dims, { ...LIMITS_128MIB, maxBufferSize: 256 * 2 ** 20 }) ?? "", /maxBufferSize/);
  assert.match(stepRefusal({ ...dims, hidden: 65 }, LIMITS_128MIB) ?? "", /hidden sizes up to 64/);
  assert.match(stepRefusal({ ...dims, bptt: 1e6 }, LIMITS_128MIB) ?? "", /one replica's work buffer/);
  assert.equal(stepRefusal(dims, LIMITS_128MIB), null);
  // W_hh in workgroup memory where it fits (rnn H 60: 14.4 KB of 16 KB), not LSTM's 57.6 KB, nor past the cap.
  assert.equal(planStep({ ...dims, cell: "rnn" }, LIMITS_128MIB).sharedWhh, true);
  assert.equal(planStep(dims, LIMITS_128MIB).sharedWhh, false);
  assert.equal(planStep({ ...dims, cell: "rnn" }, { ...LIMITS_128MIB, maxSharedWhhFloats: 64 }).sharedWhh, false);
  assert.equal(planStep({ ...dims, hidden: 4 }, { ...LIMITS_128MIB, maxSharedWhhFloats: 64 }).sharedWhh, true);
});
