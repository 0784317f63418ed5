/**
 * The CPU family's training step: forward over the chunk, loss and right
 * digits, BPTT, clip and the optimizer's update for every replica, in a wasm
 * module of its own (`wasm/src/step.ts`, built into `step_wasm.ts`), instead
 * of tfjs's autodiff around the fused layers (`../op/step.ts`).
 *
 * Two wasm calls per step: `gradients`, then, once `StepInput.live` has
 * judged the loss, `update` on the replicas alive. In this first version the
 * parameters, the optimizer's moments and the state are copied into the
 * module's memory and back every step (tensors on the `cpu` and `wasm`
 * backends live in CPU memory, so a read is a copy); the optimizer stays
 * their owner (`StepOptimizer.nextUpdate`). Where a step cannot run here (a
 * model that does not say its shape, an optimizer of another family) it is
 * `autogradStep`'s.
 */
import { tf } from "../../tf.ts";
import type { CellKind } from "../../cells.ts";
import type { OwnUpdate, StepInput, StepModel, StepOptimizer, StepOutput } from "../kernel.ts";
import { autogradStep } from "../op/step.ts";
import { STEP_WASM } from "./step_wasm.ts";

type Fn = (...args: number[]) => number;
/** The step module's one instance (`cpu/epoch.ts` runs whole epochs in it too). */
export const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(STEP_WASM), (c) => c.charCodeAt(0))),
  { env: { abort: () => {} } },
).exports as {
  memory: WebAssembly.Memory;
  heapBase: () => number;
  scratchFloats: Fn;
  gradients: Fn;
  update: Fn;
  epochBegin: Fn;
  epochChunk: Fn;
  gateMath: Fn;
};

/** The first float index free for the regions below: the module's static data (the math functions' tables) comes first. */
const BASE = wasm.heapBase() / 4;

/** The module's cell codes: ReLU RNN (rnn, irnn), LSTM, GRU. */
export const CELL_CODE: Record<CellKind, number> = { rnn: 0, irnn: 0, lstm: 1, gru: 2 };

const pad4 = (n: number) => (n + 3) & ~3;

let peakBytes = 0;

/**
 * The most bytes of the module's memory a step or epoch has laid out since the last call (then 0 again): the
 * memory a run's activations take here instead of in tfjs tensors, which lib/cli/memory.ts's estimate covers
 * (tests/kernels/limits_test.ts).
 */
export function takePeakStepBytes(): number {
  const peak = peakBytes;
  peakBytes = 0;
  return peak;
}

/**
 * Lays regions out one after another from {@linkcode BASE} (given how many floats each holds, returns where each
 * starts, as a float index, 16-byte aligned) and grows the memory to hold them.
 */
export function layout<L extends Record<string, number>>(sizes: L): L {
  let next = BASE;
  const at = {} as Record<string, number>;
  for (const [name, n] of Object.entries(sizes)) {
    at[name] = next;
    next += pad4(n);
  }
  peakBytes = Math.max(peakBytes, (next - BASE) * 4);
  const need = next * 4 - wasm.memory.buffer.byteLength;
  if (need > 0) wasm.memory.grow(Math.ceil(need / 65536));
  return at as L;
}

/** Where the parameters and the optimizer's two moments start in the module's memory (float indices). */
interface ParamRegions {
  params: number;
  m1: number;
  m2: number;
}

/** Every variable's values and its moments `m1` (and `m2`: Adam's second) into the module's memory, in order. */
export function copyIn(
  f32: Float32Array,
  mem: ParamRegions,
  vars: tf.Variable[],
  m1: Float32Array[],
  m2: Float32Array[] | null,
): void {
  let at = 0;
  vars.forEach((v, i) => {
    f32.set(v.dataSync() as Float32Array, mem.params + at);
    f32.set(m1[i], mem.m1 + at);
    if (m2) f32.set(m2[i], mem.m2 + at);
    at += v.size;
  });
}

/** The updated parameters into the variables and the moments into the optimizer's arrays: {@linkcode copyIn} back. */
export function copyOut(
  f32: Float32Array,
  mem: ParamRegions,
  vars: tf.Variable[],
  m1: Float32Array[],
  m2: Float32Array[] | null,
): void {
  let at = 0;
  vars.forEach((v, i) => {
    const next = tf.tensor(f32.slice(mem.params + at, mem.params + at + v.size), v.shape);
    v.assign(next);
    next.dispose();
    m1[i].set(f32.subarray(mem.m1 + at, mem.m1 + at + v.size));
    m2?.[i].set(f32.subarray(mem.m2 + at, mem.m2 + at + v.size));
    at += v.size;
  });
}

/** The model's shape where it gives it (`SimpleRNN` does), else null. */
export function shapeOf(model: StepModel): { cell: CellKind; hidden: number; layers: number } | null {
  const { cell, hidden, layers } = model;
  return cell && hidden && layers ? { cell, hidden, layers } : null;
}

/**
 * One training step in wasm (see the top of this file); same contract as
 * `autogradStep`, whose results it reproduces up to float32 rounding.
 */
export function cpuStep(model: StepModel, optimizer: StepOptimizer, input: StepInput): StepOutput {
  const shape = shapeOf(model);
  const update = shape ? optimizer.nextUpdate?.() : undefined;
  if (!shape || !update) return autogradStep(model, optimizer, input);
  const { cell, hidden: H, layers: L } = shape;
  const [S, B, T, K0] = input.x.shape;
  const vars = model.variables;
  const paramFloats = vars.reduce((n, v) => n + v.size, 0);
  const nState = cell === "lstm" ? 2 * L : L, stateFloats = S * B * H;
  const code = CELL_CODE[cell];
  const mem = layout({
    params: paramFloats,
    grads: paramFloats,
    m1: paramFloats,
    m2: update.kind === "adam" ? paramFloats : 0,
    x: S * B * T * K0,
    y: S * B * T,
    stateIn: nState * stateFloats,
    stateOut: nState * stateFloats,
    loss: S,
    right: S,
    coef: S,
    alive: S,
    scratch: wasm.scratchFloats(code, B, T, H, L, K0),
  });
  const f32 = new Float32Array(wasm.memory.buffer);
  const [first, second] = update.kind === "adam" ? [update.m, update.v] : [update.sq, null];
  copyIn(f32, mem, vars, first, second);
  f32.set(input.x.dataSync() as Float32Array, mem.x);
  f32.set(input.y.dataSync() as Float32Array, mem.y);
  if (input.state) input.state.forEach((t, i) => f32.set(t.dataSync() as Float32Array, mem.stateIn + i * stateFloats));
  else f32.fill(0, mem.stateIn, mem.stateIn + nState * stateFloats);
  const bytes = (floats: number) => floats * 4;
  wasm.gradients(
    code,
    S,
    B,
    T,
    H,
    L,
    K0,
    ...[mem.params, mem.grads, mem.x, mem.y, mem.stateIn, mem.stateOut, mem.loss, mem.right, mem.scratch].map(bytes),
  );
  const loss = tf.tensor1d(f32.slice(mem.loss, mem.loss + S));
  tf.tidy(() => {
    const mask = input.live(loss);
    const flags = mask instanceof tf.Tensor ? mask.dataSync() : mask;
    for (let s = 0; s < S; s++) f32[mem.alive + s] = flags[s] ? 1 : 0;
  });
  const clip = input.clip ?? 0;
  wasm.update(
    code,
    S,
    H,
    L,
    K0,
    ...[mem.params, mem.grads, mem.m1, mem.m2, mem.alive, mem.coef].map(bytes),
    clip,
    ...ruleArgs(update),
  );
  copyOut(f32, mem, vars, first, second);
  if (input.onGrads) {
    tf.tidy(() => {
      let from = mem.grads;
      const raw = vars.map((v) => {
        const g = tf.tensor(f32.slice(from, from + v.size), v.shape);
        from += v.size;
        return g;
      });
      const coef = tf.tensor1d(f32.slice(mem.coef, mem.coef + S));
      const applied = clip ? raw.map((g) => tf.mul(g, tf.reshape(coef, [S, ...g.shape.slice(1).map(() => 1)]))) : raw;
      input.onGrads!(raw, applied, loss);
    });
  }
  const right = tf.tensor1d(f32.slice(mem.right, mem.right + S));
  const state = Array.from(
    { length: nState },
    (_, i) => tf.tensor3d(f32.slice(mem.stateOut + i * stateFloats, mem.stateOut + (i + 1) * stateFloats), [S, B, H]),
  );
  return { loss, right, state };
}

/** The update's arguments after `clip`: adam, lr, a, b, eps, c1, c2 (`wasm/src/step.ts`'s `update`). */
export function ruleArgs(u: OwnUpdate): number[] {
  if (u.kind === "rmsprop") return [0, u.rule.lr, u.rule.alpha, 0, u.rule.eps, 1, 1];
  const { lr, beta1, beta2, eps, c1, c2 } = u.rule;
  return [1, lr, beta1, beta2, eps, c1, c2];
}
