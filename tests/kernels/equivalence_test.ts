/**
 * Cross-backend equivalence matrix (issue 14, section 1). Three training steps of trainEpoch from the same
 * seeds, on every backend and kernel a user can ask for, against the op-level cpu reference: the loss of every
 * step, every gradient (as computed, and as applied after clipping), every parameter after every update, and
 * the state carried out. 3 replicas (seeds 101, 202, 303), batch 2, T 5, lr 0.001. Clip on is --clip 0.01: in
 * the reference at every step some replica's norm is over 1.5 x 0.01 and every replica's clipped norm is
 * clip_grad_norm_'s (asserted). --kernel op or fused applies to the model and the optimizer alike, as in
 * lib/experiment.ts; the gradients and parameters come from trainEpoch's `onGrads` hook.
 *
 * Where the kernels change path, and the hidden sizes H on each side:
 * - lib/kernels/cpu/simd.ts and lib/kernels/cpu/layer.ts pad rows to multiples of 4 (H, G = gates x H, K = H past layer 0): H 3, 4, 5
 *   (and 32 / 33, 64 / 65, 256 / 257 are multiples of 4 and not).
 * - lib/kernels/webgpu/layer.ts packs floor(64 / H) rows of H threads per workgroup: with 6 rows (3 replicas x batch 2)
 *   H 3 to 5 leave spare threads in one workgroup, H 32 packs 2 rows and 33 one, H 64 fills 64 threads and 65
 *   takes 65, H 256 takes 256 threads, the most.
 * - WEBGPU_MAX_HIDDEN 256: at H 257 on webgpu `fused` is refused (asserted) and `auto` runs the model op by op
 *   with the WebGPU optimizer; `auto` stands in for `fused` there.
 * - tfjs-webgpu's AddN binds one storage buffer per input and WebGPU allows 8: clipGradNorm summed 4 x layers + 2
 *   gradients, so 2 layers and more were wrong on webgpu until 7099675 (on 15c89a9 the fast corner fails with
 *   clipped gradients off by 5e3 to 2e7 times their tolerance). Layers 1, 2, 3 and 6.
 *
 * Tolerances. Two float32 computations that sum in different orders differ most where a sum cancels, relative to
 * the terms summed rather than to the result; and RMSprop and Adam divide each gradient by its own RMS, so a
 * gradient entry near eps moves its parameter by up to lr / eps (1e5 here) times its rounding, and two runs left
 * to themselves drift apart from the first step (measured: parameters up to 20x PARITY_TOL.outputs off after one
 * step, over 200x after two). So:
 * - Each step of a run starts from the reference's parameters (train's `sync`); its optimizer moments and the
 *   state it carries are its own. The initial parameters must be equal, bit for bit.
 * - loss: PARITY_TOL.outputs (rtol 1e-5, atol 1e-9), entry by entry.
 * - gradients and clipped gradients (PARITY_TOL.grads' rtol 1e-4) and the state carried out (rtol 1e-5): each
 *   entry within rtol of itself plus rtol of its tensor's largest entry (in its replica) plus FLOOR (8 float32
 *   ulps, 8 x 2^-23) per layer of the largest entry of any of the replica's gradients (states): rounding grows
 *   with the layers a gradient flows back through, and the WebGPU step, which sums each gradient in one thread's
 *   order, put lstm 6 layers' bias_ih_l4 gradient [14] at 1.26x of the 8 ulps of one layer (2.4414e-6 against
 *   2.4401e-6, 1.27e-9 off) at step 3 with clip 0.01. PARITY_TOL's atol 1e-9 is
 *   too tight for float32 against float32: webgpu's irnn H 5 1-layer weight_hh gradient [0, 0] is 7.6098e-6
 *   where cpu's is 7.6140e-6 (5.5e-4 relative; 4.2e-9 off, a few ulps of the 1e-2 terms that cancel to it), and
 *   cpu fused and wasm op land on 1.0x of the tensor-relative term alone after 2 steps of irnn 6 layers.
 * - parameters after step k: within rtol 1e-5 of (|p| + |p before| + lr) of what the reference's optimizer (cpu,
 *   op) gives from the same start with this run's own clipped gradients (and the moments they build). With the
 *   gradients checked against the reference's, that is the reference's update up to the gradients' tolerance.
 * Each test prints the worst fraction of its tolerance each kind of quantity used. Over the whole slow matrix
 * here (llvmpipe): loss 0.055, gradients 0.59, clipped gradients 0.25, parameters 0.034, state 0.10.
 *
 * `deno task test`, the fast corner (under 30 s here): on cpu and wasm every cell at H 5 with 2 layers (rmsprop,
 * clip on), H 4 with 1 layer (adam, clip off) and H 3 with 3 layers (adam, clip on): 12 combos x (cpu fused,
 * wasm op, wasm fused) = 36 runs; on webgpu rnn H 5 with 2 layers (adam, clip on: the AddN case), gru H 33 with
 * 3 layers (rmsprop, clip on) and lstm H 65 with 1 layer (adam, clip off), fused and op: 6 runs.
 *
 * `deno task test:slow` (ECHOLAB_SLOW=1) adds, in 9 minutes here (2 shared cores):
 * - the full product cell (4) x layers (1, 2, 3, 6) x H (3, 4, 5) x optimizer (rmsprop, adam) x clip (off, on)
 *   x kernel (op, fused) x backend (cpu, wasm, webgpu): 192 combos x 5 runs (cpu op is the reference);
 * - H 32, 33, 64, 65, 256 and 257, each with every cell at 2 layers, the optimizer and clip paired per cell (rnn
 *   rmsprop clip on, lstm adam clip off, gru adam clip on, irnn rmsprop clip off), x kernel x backend: 24 combos
 *   x 5 runs. Layers 1, 3 and 6 and the other optimizer and clip pairings run at H 3 to 5 only.
 * Without a WebGPU adapter the webgpu runs are skipped (one line says why); cpu and wasm still run.
 */
// mutants: fast 11
import { assert } from "../_assert.ts";
import { PARITY_TOL } from "../_fixtures.ts";
import { tf } from "../../lib/tf.ts";
import { findWebGpuAdapter, useBackend } from "../../lib/backend.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { type CellKind, CELLS, type KernelKind, SimpleRNN } from "../../lib/models.ts";
import { makeOptimizer, type OptimizerName, OPTIMIZERS } from "../../lib/optim.ts";
import { trainEpoch } from "../../lib/train.ts";
import { WEBGPU_MAX_HIDDEN } from "../../lib/kernels/webgpu/layer.ts";

const slow = Deno.env.get("ECHOLAB_SLOW") === "1";
const adapter = await findWebGpuAdapter();
const noGpu = typeof adapter === "string" ? adapter : null;
if (noGpu) console.log(`equivalence: webgpu runs skipped: ${noGpu}`);

const SEEDS = [101, 202, 303];
const [B, T, STEPS, LR, CLIP] = [2, 5, 3, 0.001, 0.01];
/** float32's machine epsilon, 2^-23: the spacing of floats at 1, so twice the most a rounding moves a value. */
const F32_EPS = 2 ** -23;
const FLOOR = 8 * F32_EPS;

type Backend = "cpu" | "wasm" | "webgpu";
/** One training setup; the reference is it on cpu with kernel op. */
interface Combo {
  cell: CellKind;
  layers: number;
  hidden: number;
  optimizer: OptimizerName;
  clip: boolean;
}
/** One run of a combo on a backend with a kernel. */
interface Target {
  backend: Backend;
  kernel: "op" | "fused";
}

/** What a run computed, read back: per step the loss [S], the gradients and the parameters after the update. */
interface Trace {
  names: string[];
  shapes: number[][];
  /** The parameters before the first step. */
  init: Float32Array[];
  loss: Float32Array[];
  grads: Float32Array[][];
  applied: Float32Array[][];
  params: Float32Array[][];
  state: Float32Array[];
}

const where = (c: Combo) => `${c.cell} L${c.layers} H${c.hidden} ${c.optimizer} clip ${c.clip ? CLIP : "off"}`;
const initialised = new Set<string>();

async function switchTo(backend: Backend): Promise<void> {
  if (initialised.has(backend)) await tf.setBackend(backend);
  else await useBackend(backend);
  initialised.add(backend);
}

/** `make()` inside tf.tidy, which frees the tensors it made but not the variables (tidy does not track them). */
function tidied<T>(make: () => T): T {
  let out!: T;
  tf.tidy(() => {
    out = make();
  });
  return out;
}

/**
 * Three steps of trainEpoch for `c` on the active backend (each from `sync`'s parameters where given); asserts
 * that the run leaves no tensor behind. The model and optimizer are built inside tf.tidy: SimpleRNN and the
 * optimizers leave the initial value of each tf.variable they make behind otherwise (a leak of their own).
 */
async function train(c: Combo, kernel: KernelKind, sync?: Trace): Promise<Trace> {
  const before = tf.memory().numTensors;
  const model = tidied(() => new SimpleRNN({ cell: c.cell, hidden: c.hidden, layers: c.layers, seeds: SEEDS, kernel }));
  const optimizer = tidied(() => makeOptimizer(c.optimizer, model.variables, LR, kernel));
  const read = async (ts: tf.Tensor[]) => await Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
  const init = await read(model.variables);
  const datas = EchoData.forSeeds(SEEDS, { echoStep: 3, batchSize: B, seriesLength: STEPS * T, truncatedLength: T });
  const kept: tf.Tensor[][][] = [];
  const keep = (ts: tf.Tensor[]) => ts.map((t) => tf.keep(tf.clone(t)));
  const res = await trainEpoch(model, optimizer, datas, null, {
    clip: c.clip ? CLIP : 0,
    onGrads: (grads, applied, loss) => {
      kept.push([keep([loss]), keep(grads), c.clip ? keep(applied) : [], keep(model.variables)]);
      // The next step starts from the reference's parameters (see the top of the file).
      if (sync) model.variables.forEach((v, i) => v.assign(tf.tensor(sync.params[kept.length - 1][i], v.shape)));
    },
  });
  const steps = await Promise.all(kept.map((s) => Promise.all(s.map(read))));
  const trace: Trace = {
    names: [...model.params.keys()],
    shapes: model.variables.map((v) => v.shape),
    init,
    loss: steps.map((s) => s[0][0]),
    grads: steps.map((s) => s[1]),
    applied: steps.map((s) => (c.clip ? s[2] : s[1])),
    params: steps.map((s) => s[3]),
    state: await read(res.state),
  };
  tf.dispose([...kept.flat(2), ...res.state]);
  optimizer.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before, `${where(c)}: tensors leaked`);
  assert.equal(trace.loss.length, STEPS);
  return trace;
}

/** The L2 norm of each replica's gradients (all variables), in float64. */
function norms(grads: Float32Array[]): number[] {
  return SEEDS.map((_, r) => {
    let sum = 0;
    for (const g of grads) {
      const per = g.length / SEEDS.length;
      for (let i = r * per; i < (r + 1) * per; i++) sum += g[i] * g[i];
    }
    return Math.sqrt(sum);
  });
}

/** Checks the reference itself: finite, and clipping (where on) takes norms above CLIP down to it, at every step. */
function checkReference(c: Combo, ref: Trace): void {
  for (const x of [...ref.loss, ...ref.params.flat(), ...ref.state]) {
    assert.ok(x.every(Number.isFinite), `${where(c)} reference: not finite`);
  }
  if (!c.clip) return;
  ref.grads.forEach((g, k) => {
    const before = norms(g), after = norms(ref.applied[k]);
    const at = `${where(c)} reference step ${k + 1}`;
    assert.ok(before.some((n) => n > 1.5 * CLIP), `${at}: no replica's norm clips (${before})`);
    before.forEach((n, r) => {
      const want = n * Math.min(1, CLIP / (n + 1e-6)); // clip_grad_norm_'s coefficient, capped at 1
      assert.ok(Math.abs(after[r] - want) <= 1e-5 * want, `${at} replica ${r}: norm ${after[r]}, want ${want}`);
    });
  });
}

/** The largest |a - b| / tol(i) over the entries i, and where. */
function worst(a: Float32Array, b: Float32Array, tol: (i: number) => number): { ratio: number; index: number } {
  let w = { ratio: 0, index: -1 };
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const ratio = d === 0 ? 0 : Number.isNaN(d) ? Infinity : d / tol(i);
    if (ratio > w.ratio) w = { ratio, index: i };
  }
  return w;
}

/** max |x| over each replica's part of `x` (its leading axis). */
function scales(x: Float32Array): number[] {
  const per = x.length / SEEDS.length;
  return SEEDS.map((_, r) => {
    let m = 0;
    for (let i = r * per; i < (r + 1) * per; i++) m = Math.max(m, Math.abs(x[i]));
    return m;
  });
}

/**
 * The parameters the reference's optimizer (tfjs ops on cpu) reaches from `start[k]` with the gradients `got`
 * applied at step k, its moments carried from step to step as in training: what the run's own update should
 * have given, since its step k also started from `start[k]` (train's `sync`).
 */
async function expectedParams(c: Combo, got: Trace, start: Float32Array[][]): Promise<Float32Array[][]> {
  await switchTo("cpu");
  const before = tf.memory().numTensors;
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
  assert.equal(tf.memory().numTensors, before, `${where(c)}: expected parameters leaked tensors`);
  return out;
}

/** The worst fraction of its tolerance each kind of quantity used, and where. */
type Seen = Map<string, { ratio: number; at: string }>;

/**
 * Every quantity of `got` that is not within tolerance of `ref` (`expected`: the parameters of
 * {@linkcode expectedParams}), step by step: one line each with the worst entry (replica, index, values,
 * |diff|) and how many times its tolerance it is off. The tolerances are in the comment at the top of this file.
 */
function disagreements(what: string, got: Trace, ref: Trace, expected: Float32Array[][], seen: Seen): string[] {
  const out: string[] = [];
  const check = (kind: string, name: string, a: Float32Array, b: Float32Array, tol: (i: number) => number) => {
    if (a.length !== b.length) return void out.push(`${what} ${name}: length ${a.length} vs ${b.length}`);
    const { ratio, index } = worst(a, b, tol);
    if (!(ratio <= (seen.get(kind)?.ratio ?? -1))) seen.set(kind, { ratio, at: `${what} ${name} [${index}]` });
    if (ratio <= 1) return;
    out.push(
      `${what} ${name}: [${index}] (replica ${Math.floor(index / (b.length / SEEDS.length))}) ${a[index]} vs ` +
        `${b[index]}, |diff| ${Math.abs(a[index] - b[index]).toExponential(2)}, ${ratio.toPrecision(3)}x tolerance`,
    );
  };
  const [OUT, GRAD] = [PARITY_TOL.outputs.rtol, PARITY_TOL.grads.rtol];
  // FLOOR per layer: a gradient's rounding grows with the layers it flows back through.
  const floor = FLOOR * ref.names.filter((n) => n.startsWith("rnn.weight_hh_l")).length;
  const replica = (b: Float32Array) => (i: number) => Math.floor(i / (b.length / SEEDS.length));
  // Tensors of one kind (a step's gradients, the state): rtol of the entry and of its tensor's largest entry (in
  // its replica), plus FLOOR times the largest entry of the replica's tensors of that kind.
  const group = (kind: string, names: string[], as: Float32Array[], bs: Float32Array[], rtol: number) => {
    const tensors = bs.map((b) => scales(b));
    const most = tensors.reduce((m, x) => m.map((v, r) => Math.max(v, x[r])));
    bs.forEach((b, n) => {
      const r = replica(b);
      check(kind, names[n], as[n], b, (i) => rtol * (Math.abs(b[i]) + tensors[n][r(i)]) + floor * most[r(i)]);
    });
  };
  ref.names.forEach((n, i) => check("start", `${n} before training`, got.init[i], ref.init[i], () => 0));
  for (let k = 0; k < STEPS; k++) {
    const at = `step ${k + 1}`;
    check("loss", `${at} loss`, got.loss[k], ref.loss[k], (i) => OUT * Math.abs(ref.loss[k][i]) + 1e-9);
    group("gradients", ref.names.map((n) => `${at} grad ${n}`), got.grads[k], ref.grads[k], GRAD);
    if (got.applied[k] !== got.grads[k]) {
      const names = ref.names.map((n) => `${at} clipped grad ${n}`);
      group("clipped gradients", names, got.applied[k], ref.applied[k], GRAD);
    }
    const from = k ? ref.params[k - 1] : ref.init;
    ref.names.forEach((n, i) => {
      const [b, p, name] = [expected[k][i], from[i], `${at} ${n} after the update`];
      check("parameters", name, got.params[k][i], b, (j) => OUT * (Math.abs(b[j]) + Math.abs(p[j]) + LR));
    });
  }
  group("state", ref.state.map((_, i) => `state out [${i}]`), got.state, ref.state, OUT);
  return out;
}

/** Runs each combo's reference and then every target against it; fails listing every disagreement. */
async function matrix(combos: Combo[], targets: Target[]): Promise<void> {
  const failures: string[] = [];
  const seen: Seen = new Map();
  let runs = 0, count = 0;
  for (const c of combos) {
    await switchTo("cpu");
    const ref = await train(c, "op");
    checkReference(c, ref);
    for (const { backend, kernel } of targets) {
      if (backend === "webgpu" && noGpu) continue;
      if (backend === "cpu" && kernel === "op") continue;
      await switchTo(backend);
      let k: KernelKind = kernel;
      if (backend === "webgpu" && kernel === "fused" && c.hidden > WEBGPU_MAX_HIDDEN) {
        assertFusedRefused(c);
        k = "auto";
      }
      const what = `${where(c)} ${backend} ${k}:`;
      const got = await train(c, k, ref);
      const expected = await expectedParams(c, got, [ref.init, ...ref.params.slice(0, -1)]);
      const found = disagreements(what, got, ref, expected, seen);
      runs++;
      count += found.length;
      if (found.length > 3) found.splice(3, found.length - 3, `${what} ... and ${found.length - 3} more`);
      failures.push(...found);
    }
  }
  await switchTo("cpu");
  const used = [...seen].map(([k, { ratio }]) => `${k} ${ratio.toPrecision(2)}`).join(", ");
  console.log(`${runs} runs compared; worst fraction of the tolerance used: ${used}`);
  assert.ok(runs > 0 || noGpu !== null, "no run compared");
  if (failures.length) assert.fail(`${count} disagreements:\n${failures.join("\n")}`);
}

/** On webgpu past WEBGPU_MAX_HIDDEN `--kernel fused` is refused (kernelFor, asked by the model; lib/experiment.ts up front). */
function assertFusedRefused(c: Combo): void {
  const model = new SimpleRNN({ cell: c.cell, hidden: c.hidden, layers: 1, seeds: SEEDS, kernel: "fused" });
  const x = tf.zeros([SEEDS.length, B, T, 1]) as tf.Tensor4D;
  assert.throws(
    () => tf.tidy(() => model.forward(x, null).logits),
    /fused on webgpu takes --hidden up to 256, got 257/,
  );
  x.dispose();
  model.dispose();
}

const combos = (
  cells: readonly CellKind[],
  layers: number[],
  hiddens: number[],
  optimizers: readonly OptimizerName[],
  clips: boolean[],
): Combo[] =>
  cells.flatMap((cell) =>
    layers.flatMap((l) =>
      hiddens.flatMap((hidden) =>
        optimizers.flatMap((optimizer) => clips.map((clip) => ({ cell, layers: l, hidden, optimizer, clip })))
      )
    )
  );

const CPU_TARGETS: Target[] = [
  { backend: "cpu", kernel: "fused" },
  { backend: "wasm", kernel: "op" },
  { backend: "wasm", kernel: "fused" },
];
const GPU_TARGETS: Target[] = [{ backend: "webgpu", kernel: "fused" }, { backend: "webgpu", kernel: "op" }];
const ALL_TARGETS = [...CPU_TARGETS, ...GPU_TARGETS];

/** A test; `gpu` ones leave the sanitizers off, and `gpuOnly` ones are ignored without an adapter. */
function test(name: string, gpu: "gpu" | "gpuOnly" | "cpu", fn: () => Promise<void>): void {
  Deno.test({
    name: `equivalence: ${name}`,
    ignore: gpu === "gpuOnly" && noGpu !== null,
    // tfjs-webgpu keeps its GPUDevice (a Deno resource) for the life of the process.
    sanitizeResources: gpu === "cpu",
    sanitizeOps: gpu === "cpu",
    fn,
  });
}

test(
  "cpu fused, wasm op and wasm fused agree with the cpu op-level reference (every cell, H 3 to 5)",
  "cpu",
  () =>
    matrix(
      [
        ...combos(CELLS, [2], [5], ["rmsprop"], [true]),
        ...combos(CELLS, [1], [4], ["adam"], [false]),
        ...combos(CELLS, [3], [3], ["adam"], [true]),
      ],
      CPU_TARGETS,
    ),
);

test(
  "webgpu fused and op agree with the cpu op-level reference (2 and 3 layers clipped, H 5, 33, 65)",
  "gpuOnly",
  () =>
    matrix(
      [
        ...combos(["rnn"], [2], [5], ["adam"], [true]),
        ...combos(["gru"], [3], [33], ["rmsprop"], [true]),
        ...combos(["lstm"], [1], [65], ["adam"], [false]),
      ],
      GPU_TARGETS,
    ),
);

/** The large sizes: every cell at 2 layers, an optimizer and a clip setting each. */
const LARGE: Omit<Combo, "hidden">[] = [
  { cell: "rnn", layers: 2, optimizer: "rmsprop", clip: true },
  { cell: "lstm", layers: 2, optimizer: "adam", clip: false },
  { cell: "gru", layers: 2, optimizer: "adam", clip: true },
  { cell: "irnn", layers: 2, optimizer: "rmsprop", clip: false },
];

if (slow) {
  for (const cell of CELLS) {
    for (const hidden of [3, 4, 5]) {
      const name = `slow: ${cell} H ${hidden}, layers 1/2/3/6 x rmsprop/adam x clip off/on, every backend and kernel`;
      test(name, "gpu", () => matrix(combos([cell], [1, 2, 3, 6], [hidden], OPTIMIZERS, [false, true]), ALL_TARGETS));
    }
  }
  for (const hidden of [32, 33, 64, 65, 256, 257]) {
    const name = `slow: H ${hidden}, every cell with 2 layers, every backend and kernel`;
    test(name, "gpu", () => matrix(LARGE.map((c) => ({ ...c, hidden })), ALL_TARGETS));
  }
}
