/** Loads the PyTorch fixtures made by tests/fixtures/make_fixtures.py into models. */
import { tf } from "../lib/tf.ts";
import { type CellKind, type KernelKind, SimpleRNN } from "../lib/models.ts";
import type { Tolerance } from "./_assert.ts";

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
