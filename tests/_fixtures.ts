/** Loads the PyTorch fixtures made by tests/fixtures/make_fixtures.py into models. */
import { tf } from "../lib/tf.ts";
import { type CellKind, type KernelKind, SimpleRNN } from "../lib/models.ts";
import { assert, assertClose, type Tolerance } from "./_assert.ts";
import type { Optimizer } from "../lib/optim.ts";
import { bceWithLogits } from "../lib/loss.ts";

export interface Arr {
  shape: number[];
  data: number[];
}

/** Outputs and gradients of one case (BCEWithLogits mean loss), as PyTorch records them. */
export interface CaseResults {
  logits: Arr;
  hN: Arr;
  cN?: Arr;
  loss: number;
  grads: Record<string, Arr>;
  gradH0: Arr;
  /** dLoss/dc0, LSTM only. */
  gradC0?: Arr;
}

/** One case: inputs and float64 results, plus the same case computed by float32 PyTorch. */
export interface CellCase extends CaseResults {
  hidden: number;
  layers: number;
  batch: number;
  steps: number;
  seed: number;
  params: Record<string, Arr>;
  x: Arr;
  y: Arr;
  h0: Arr;
  c0?: Arr;
  f32: CaseResults;
}

/**
 * Tolerances for float32 results against the float64 fixtures: |a - b| <= atol + rtol * |b|.
 * Chosen from the float32 error of PyTorch itself (each case's `f32` vs its float64 results, all
 * 9 cases; the test "float32 PyTorch is within PARITY_TOL ..." in model_test.ts re-measures it),
 * with about 3x headroom over the worst case:
 * - outputs (logits, hN, cN, loss): worst |err| 1.9e-7 (lstm H3 L2 cN, |b| 1.38); the largest
 *   relative need is rtol 3.1e-6 at atol 1e-9 (gru H6 L3 hN[8]).
 * - gradients (parameters, dL/dh0, dL/dc0): worst |err| 1.6e-8, but where float32 sums cancel the
 *   error is large relative to the result: rnn H3 L2 grad bias_hh_l1[1], |g| 6.1e-5, |err| 2.9e-9,
 *   needs rtol 3.1e-5 at atol 1e-9 (worst relative error 3.3e-4, on an entry of 2.1e-7, err 7e-11).
 * atol 1e-9 lies below the smallest nonzero fixture gradient (1.4e-8), so every entry is checked
 * relatively; atol 1e-7 would let that entry flip sign unnoticed. Exact zeros (RNN/ReLU) stay exact.
 */
export const PARITY_TOL = {
  outputs: { rtol: 1e-5, atol: 1e-9 },
  grads: { rtol: 1e-4, atol: 1e-9 },
} as const satisfies Record<string, Tolerance>;

export function loadCases(cell: "rnn" | "lstm" | "gru"): CellCase[] {
  const url = new URL(`./fixtures/${cell}.json`, import.meta.url);
  return JSON.parse(Deno.readTextFileSync(url)).cases;
}

/** A one-replica model holding the fixture's parameters. */
export function modelFromCase(cell: CellKind, c: CellCase, kernel: KernelKind, replicas = 1): SimpleRNN {
  const seeds = Array.from({ length: replicas }, (_, i) => i);
  const m = new SimpleRNN({ cell, hidden: c.hidden, layers: c.layers, seeds, kernel });
  for (const [name, a] of Object.entries(c.params)) for (let r = 0; r < replicas; r++) m.setParam(name, r, a.data);
  return m;
}

/** The fixture's [L, B, H] state as one [1, B, H] tensor per layer. */
export function stateFromArr(a: Arr): tf.Tensor3D[] {
  const [L, B, H] = a.shape;
  return Array.from({ length: L }, (_, l) => tf.tensor3d(a.data.slice(l * B * H, (l + 1) * B * H), [1, B, H]));
}

/** Our float32 outputs, loss and gradients for a fixture case, laid out as the fixture's. */
export async function ours(cell: CellKind, c: CellCase, kernel: KernelKind): Promise<CaseResults> {
  const m = modelFromCase(cell, c, kernel);
  const [B, T, L] = [c.batch, c.steps, c.layers];
  const x = tf.tensor4d(c.x.data, [1, B, T, 1]), y = tf.tensor4d(c.y.data, [1, B, T, 1]);
  // State is [h of every layer..., c of every layer...] (LSTM), each [1, B, H]; the fixture's is [L, B, H].
  const state = [...stateFromArr(c.h0), ...(c.c0 ? stateFromArr(c.c0) : [])];
  const arr = async (ts: tf.Tensor[], shape: number[]) => ({
    shape,
    data: (await Promise.all(ts.map((t) => t.data()))).flatMap((d) => [...d]),
  });
  const out = m.forward(x, state);
  const f = () => tf.sum(bceWithLogits(m.forward(x, state).logits, y)) as tf.Scalar;
  const { value, grads } = tf.variableGrads(f, m.variables);
  const gS = tf.grads((...s: tf.Tensor[]) => tf.sum(bceWithLogits(m.forward(x, s as tf.Tensor3D[]).logits, y)))(state);
  const named = Object.entries(c.grads);
  const res: CaseResults = {
    logits: await arr([out.logits], c.logits.shape),
    hN: await arr(out.state.slice(0, L), c.hN.shape),
    loss: (await value.data())[0],
    grads: Object.fromEntries(
      await Promise.all(named.map(async ([name, g]) => [name, await arr([grads[m.params.get(name)!.name]], g.shape)])),
    ),
    gradH0: await arr(gS.slice(0, L), c.gradH0.shape),
  };
  if (c.cN) res.cN = await arr(out.state.slice(L), c.cN.shape);
  if (c.gradC0) res.gradC0 = await arr(gS.slice(L), c.gradC0.shape);
  tf.dispose([x, y, ...state, out.logits, ...out.state, value, ...Object.values(grads), ...gS]);
  m.dispose();
  return res;
}

/** Every compared quantity of a case, with the tolerance that applies to it. */
export function comparisons(where: string, got: CaseResults, ref: CaseResults) {
  const out: { what: string; actual: number[]; expected: number[]; tol: Tolerance }[] = [];
  const add = (what: string, a: number[] | undefined, b: number[] | undefined, tol: Tolerance) => {
    assert.ok(a && b, `${where} ${what}: missing on one side`);
    out.push({ what: `${where} ${what}`, actual: a, expected: b, tol });
  };
  add("logits", got.logits.data, ref.logits.data, PARITY_TOL.outputs);
  add("hN", got.hN.data, ref.hN.data, PARITY_TOL.outputs);
  if (ref.cN) add("cN", got.cN?.data, ref.cN.data, PARITY_TOL.outputs);
  add("loss", [got.loss], [ref.loss], PARITY_TOL.outputs);
  for (const [name, g] of Object.entries(ref.grads)) {
    add(`grad ${name}`, got.grads[name]?.data, g.data, PARITY_TOL.grads);
  }
  add("dL/dh0", got.gradH0.data, ref.gradH0.data, PARITY_TOL.grads);
  if (ref.gradC0) add("dL/dc0", got.gradC0?.data, ref.gradC0.data, PARITY_TOL.grads);
  return out;
}

/** Outputs, final state and every gradient (parameters and initial state) of one model, read with `await data()`. */
export async function outputsAndGrads(m: SimpleRNN, x: tf.Tensor4D, y: tf.Tensor4D, state: tf.Tensor3D[]) {
  const out = m.forward(x, state);
  // The loss also reads the final state (h, and c for LSTM), so those gradient paths are checked too.
  const loss = (s: tf.Tensor3D[]) => {
    const o = m.forward(x, s);
    return tf.add(tf.sum(bceWithLogits(o.logits, y)), tf.mul(tf.addN(o.state.map((t) => tf.sum(t))), 0.1)) as tf.Scalar;
  };
  const { grads } = tf.variableGrads(() => loss(state), m.variables);
  const gState = tf.grads((...s: tf.Tensor[]) => loss(s as tf.Tensor3D[]))(state);
  const flat = async (ts: tf.Tensor[]) => (await Promise.all(ts.map((t) => t.data()))).flatMap((d) => [...d]);
  const res = {
    logits: await flat([out.logits]),
    state: await flat(out.state),
    grads: await Promise.all(m.variables.map((v) => flat([grads[v.name]]))),
    gState: await flat(gState),
  };
  tf.dispose([out.logits, ...out.state, ...Object.values(grads), ...gState]);
  return res;
}

/** An optimizer trajectory from tests/fixtures/optim.json: start, gradients, PyTorch's parameters after each step. */
export interface OptimTrajectory {
  lr: number;
  p0: number[];
  grads: number[][];
  params: number[][];
}

/** clip_grad_norm_ over two gradients (shapes [3, 2] and [2]): inputs, PyTorch's clipped values and total norm. */
export interface ClipCase {
  grads: number[][];
  maxNorm: number;
  clipped: number[][];
  totalNorm: number;
}

export function loadOptimFixtures(): { rmsprop: OptimTrajectory; adam: OptimTrajectory; clip: ClipCase[] } {
  return JSON.parse(Deno.readTextFileSync(new URL("./fixtures/optim.json", import.meta.url)));
}

/** Replays a trajectory on two replicas of the same parameter (both must follow PyTorch), on the active backend. */
export async function replay(make: (vars: tf.Variable[]) => Optimizer, f: OptimTrajectory): Promise<void> {
  const p = tf.variable(tf.tensor2d([f.p0, f.p0]));
  const opt = make([p]);
  for (const [k, g] of f.grads.entries()) {
    const gt = tf.tensor2d([g, g]);
    opt.step([gt]);
    gt.dispose();
    const got = await p.data(), n = f.p0.length;
    assertClose(got.slice(0, n), f.params[k], 1e-6, `step ${k + 1}`);
    assertClose(got.slice(n), f.params[k], 1e-6, `step ${k + 1} replica 1`);
  }
  opt.dispose();
  p.dispose();
}
