// mutants: fast 2
/**
 * The CPU family's wasm training step (`lib/kernels/cpu/step.ts`) against the
 * reference step (`autogradStep`, tfjs autodiff) where the equivalence matrix
 * (three steps, each from the reference's parameters) does not look: many
 * steps run on their own, each cell and 1 to 3 layers, both optimizers, clip
 * on and off, the state carried from chunk to chunk; replicas the `live` mask
 * drops keep their parameters and moments; an optimizer of another family
 * falls back to autodiff; nothing leaks.
 */
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { useBackend } from "../../lib/backend.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { type CellKind, CELLS, SimpleRNN } from "../../lib/models.ts";
import { makeOptimizer, type OptimizerName } from "../../lib/optim.ts";
import { stackChunks } from "../../lib/train.ts";
import type { AliveMask, StepInput, TrainStep } from "../../lib/kernels/kernel.ts";
import { autogradStep } from "../../lib/kernels/op/step.ts";
import { cpuStep } from "../../lib/kernels/cpu/step.ts";
import { kernelFor } from "../../lib/kernels/mod.ts";

const SEEDS = [11, 22, 33];
const [B, T, LR] = [3, 6, 0.01];

interface Setup {
  cell: CellKind;
  layers: number;
  hidden: number;
  optimizer: OptimizerName;
  clip: number;
  /** Optimizer family: "fused" (CPU arrays, the wasm step updates) or "op" (tfjs ops: the step falls back). */
  optKernel?: "fused" | "op";
  /** The replicas' seeds (default SEEDS). */
  seeds?: number[];
  /** Sequences per step (default B). */
  batch?: number;
}

/** What a run gives: each step's loss and right digits, the parameters and state after the last step. */
interface Run {
  loss: Float32Array[];
  right: Float32Array[];
  params: Float32Array[];
  /** The parameters after the first step. */
  first: Float32Array[];
  state: Float32Array[];
}

/**
 * `steps` chunks of one series through `step`, the state carried, on the
 * `cpu` backend with the fused layers; `live` marks the replicas updated.
 */
function run(step: TrainStep, s: Setup, steps: number, live?: (k: number) => AliveMask): Run {
  const seeds = s.seeds ?? SEEDS;
  const model = new SimpleRNN({ cell: s.cell, hidden: s.hidden, layers: s.layers, seeds, kernel: "fused" });
  const optimizer = makeOptimizer(s.optimizer, model.variables, LR, s.optKernel ?? "fused");
  const datas = EchoData.forSeeds(seeds, {
    echoStep: 2,
    batchSize: s.batch ?? B,
    seriesLength: steps * T,
    truncatedLength: T,
  });
  const out: Run = { loss: [], right: [], params: [], first: [], state: [] };
  let state: tf.Tensor3D[] | null = null;
  for (let k = 0; k < steps; k++) {
    const { x, y } = stackChunks(datas, k);
    const input: StepInput = { x, y, state, clip: s.clip, live: () => live?.(k) ?? seeds.map(() => true) };
    const res = step(model, optimizer, input);
    out.loss.push(res.loss.dataSync() as Float32Array);
    out.right.push(res.right.dataSync() as Float32Array);
    tf.dispose([x, y, res.loss, res.right, ...(state ?? [])]);
    state = res.state;
    if (k === 0) out.first = model.variables.map((v) => Float32Array.from(v.dataSync()));
  }
  out.params = model.variables.map((v) => Float32Array.from(v.dataSync()));
  out.state = state!.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(state!);
  optimizer.dispose();
  model.dispose();
  return out;
}

/** max |a - b| / (atol + rtol |b|) over every entry. */
function worst(a: Float32Array[], b: Float32Array[], rtol: number, atol: number): number {
  let w = 0;
  a.forEach((x, i) =>
    x.forEach((v, j) => (w = Math.max(w, Math.abs(v - b[i][j]) / (atol + rtol * Math.abs(b[i][j])))))
  );
  return w;
}

/** Whether every entry of `a` equals `b`'s, bit for bit. */
const same = (a: Float32Array[], b: Float32Array[]) => a.every((x, i) => x.every((v, j) => Object.is(v, b[i][j])));

const where = (s: Setup) => `${s.cell} L${s.layers} H${s.hidden} ${s.optimizer} clip ${s.clip}`;

/** Asserts the wasm step's run of `s` is the reference's within tolerance, and leaks no tensor. */
function agree(s: Setup, steps: number): void {
  const before = tf.memory().numTensors;
  const got = run(cpuStep, s, steps), ref = run(autogradStep, s, steps);
  assert.equal(tf.memory().numTensors, before, `${where(s)}: tensors leaked`);
  // Float32 sums in another order, amplified by RMSprop and Adam dividing each gradient by its RMS: a few steps
  // apart, runs left to themselves differ by about 1e-4 of a parameter (tests/kernels/equivalence_test.ts).
  const ratios = {
    loss: worst(got.loss, ref.loss, 1e-3, 1e-5),
    params: worst(got.params, ref.params, 1e-3, 1e-3),
    state: worst(got.state, ref.state, 1e-3, 1e-3),
  };
  for (const [what, r] of Object.entries(ratios)) assert.ok(r <= 1, `${where(s)}: ${what} ${r.toFixed(2)}x tolerance`);
  got.right.forEach((r, k) => r.forEach((v, i) => assert.ok(Math.abs(v - ref.right[k][i]) <= 1, `${where(s)} right`)));
}

await useBackend("cpu");

for (const cell of CELLS) {
  Deno.test(`cpu step: ${cell}, 12 steps from zero state, state carried, equal to autodiff (1-3 layers, both optimizers)`, () => {
    agree({ cell, layers: 1, hidden: 4, optimizer: "rmsprop", clip: 0 }, 12);
    agree({ cell, layers: 2, hidden: 5, optimizer: "adam", clip: 0.05 }, 12);
    agree({ cell, layers: 3, hidden: 3, optimizer: "rmsprop", clip: 0.05 }, 6);
  });
}

Deno.test("cpu step: H 33 (padding past a multiple of 4, the 8-wide blocks), adam, clip", () => {
  agree({ cell: "rnn", layers: 2, hidden: 33, optimizer: "adam", clip: 0.5 }, 4);
  agree({ cell: "lstm", layers: 1, hidden: 9, optimizer: "rmsprop", clip: 0 }, 4);
});

Deno.test("cpu step: H 9 to 12 take the per-replica path (past the replica-lanes path's H 8): every cell", () => {
  agree({ cell: "gru", layers: 2, hidden: 9, optimizer: "adam", clip: 0.05 }, 4);
  agree({ cell: "rnn", layers: 1, hidden: 12, optimizer: "rmsprop", clip: 0 }, 4);
  agree({ cell: "lstm", layers: 2, hidden: 10, optimizer: "rmsprop", clip: 0.05 }, 4);
  // Batch 5: the recurrent products take mm5 (five rows by eight columns, then by four: H 12 has both).
  for (const cell of CELLS) agree({ cell, layers: 2, hidden: 12, optimizer: "adam", clip: 0.05, batch: 5 }, 4);
  agree({ cell: "gru", layers: 1, hidden: 4, optimizer: "rmsprop", clip: 0, batch: 5 }, 4);
});

Deno.test("cpu step: the replica-lanes path (H <= 8, four replicas a vector) at H 8 and with groups part full", () => {
  agree({ cell: "lstm", layers: 2, hidden: 8, optimizer: "adam", clip: 0.05 }, 4);
  agree({ cell: "gru", layers: 1, hidden: 7, optimizer: "rmsprop", clip: 0, seeds: [11, 22, 33, 44, 55] }, 4);
  // Each replica's lane does its own arithmetic: replica 33 in a group of five (lane 2 of the first group) is
  // replica 33 alone (lane 0, the others copies of it), bit for bit; so is replica 55 (lane 0 of the second).
  for (const cell of ["rnn", "lstm", "gru"] as const) {
    const s: Setup = { cell, layers: 2, hidden: 4, optimizer: "adam", clip: 0.05, seeds: [11, 22, 33, 44, 55] };
    const five = run(cpuStep, s, 3);
    for (const [i, seed] of [[2, 33], [4, 55]]) {
      const one = run(cpuStep, { ...s, seeds: [seed] }, 3);
      const mine = (xs: Float32Array[]) => xs.map((x) => x.slice((x.length / 5) * i, (x.length / 5) * (i + 1)));
      assert.ok(same(mine(five.params), one.params), `${cell}: replica ${seed}'s parameters depend on its lane`);
      assert.ok(same(mine(five.state), one.state), `${cell}: replica ${seed}'s state depends on its lane`);
      assert.ok(five.loss.every((l, k) => Object.is(l[i], one.loss[k][0])), `${cell}: replica ${seed}'s loss`);
    }
  }
});

Deno.test("cpu step: a replica the mask drops keeps its parameters and moments; a tensor mask works too", () => {
  for (const optimizer of ["rmsprop", "adam"] as const) {
    const s: Setup = { cell: "gru", layers: 2, hidden: 4, optimizer, clip: 0.05 };
    // Replica 1 sits out steps 2 and 3: afterwards it must be where a run that never updated it then is.
    const drop = (k: number): AliveMask => [true, k < 1 || k > 2, true];
    const tensorDrop = (k: number): AliveMask => tf.tensor1d([1, k < 1 || k > 2 ? 1 : 0, 1]);
    const got = run(cpuStep, s, 5, drop), ref = run(autogradStep, s, 5, drop);
    const viaTensor = run(cpuStep, s, 5, tensorDrop);
    assert.ok(worst(got.params, ref.params, 1e-3, 1e-3) <= 1, `${optimizer}: masked run differs from autodiff's`);
    assert.ok(same(viaTensor.params, got.params), `${optimizer}: a tensor mask differs from flags`);
    // Replica 1 updated at step 1 only: its parameters stay those after step 1, bit for bit.
    const never = run(cpuStep, s, 5, (k) => [true, k < 1, true]);
    never.params.forEach((p, i) => {
      const per = p.length / SEEDS.length;
      const [now, then] = [p.slice(per, 2 * per), never.first[i].slice(per, 2 * per)];
      assert.deepEqual(now, then, `${optimizer}: frozen replica moved`);
      assert.notDeepEqual(p.slice(0, per), never.first[i].slice(0, per), `${optimizer}: live replica did not move`);
    });
  }
});

Deno.test("cpu step: an optimizer of another family (tfjs ops) runs the step by autodiff, counting Adam's step once", () => {
  const s: Setup = { cell: "lstm", layers: 1, hidden: 4, optimizer: "adam", clip: 0, optKernel: "op" };
  const got = run(cpuStep, s, 4), ref = run(autogradStep, s, 4);
  assert.ok(same(got.params, ref.params), "fallback differs from autogradStep");
});

Deno.test("cpu step: debug mode hands over raw and clipped gradients (clip_grad_norm_'s norm) and the loss", () => {
  const model = new SimpleRNN({ cell: "rnn", hidden: 4, layers: 2, seeds: SEEDS, kernel: "fused" });
  const optimizer = makeOptimizer("adam", model.variables, LR, "fused");
  const datas = EchoData.forSeeds(SEEDS, { echoStep: 2, batchSize: B, seriesLength: T, truncatedLength: T });
  const { x, y } = stackChunks(datas, 0);
  const before = tf.memory().numTensors;
  let seen = 0;
  const out = cpuStep(model, optimizer, {
    x,
    y,
    state: null,
    clip: 0.01,
    live: () => [true, true, true],
    onGrads: (grads, applied, loss) => {
      seen++;
      assert.equal(grads.length, model.variables.length);
      assert.equal(loss.shape[0], SEEDS.length);
      const norm = (gs: tf.Tensor[], r: number) =>
        Math.sqrt(gs.reduce((sum, g) => {
          const d = g.dataSync(), per = d.length / SEEDS.length;
          for (let i = r * per; i < (r + 1) * per; i++) sum += d[i] * d[i];
          return sum;
        }, 0));
      SEEDS.forEach((_, r) => {
        const n = norm(grads, r), want = n * Math.min(1, 0.01 / (n + 1e-6));
        assert.ok(Math.abs(norm(applied, r) - want) <= 1e-5 * want, `replica ${r}: clipped norm`);
      });
    },
  });
  assert.equal(seen, 1);
  tf.dispose([out.loss, out.right, ...out.state]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
});

Deno.test("cpu step: kernelFor gives the wasm step on cpu and wasm to every cell", () => {
  for (const backend of ["cpu", "wasm"]) {
    for (const cell of CELLS) {
      const { step } = kernelFor({ backend, cell, hidden: 4 }).kernel;
      assert.equal(step, cpuStep, `${backend} ${cell}`);
    }
  }
});
