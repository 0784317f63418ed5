/** Loads the PyTorch fixtures made by tests/fixtures/make_fixtures.py into models. */
import { tf } from "../lib/tf.ts";
import { type CellKind, type KernelKind, SimpleRNN } from "../lib/models.ts";

export interface Arr {
  shape: number[];
  data: number[];
}

export interface CellCase {
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
  logits: Arr;
  hN: Arr;
  cN?: Arr;
  loss: number;
  grads: Record<string, Arr>;
  gradH0: Arr;
}

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
