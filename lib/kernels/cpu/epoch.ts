/**
 * The CPU family's whole training epoch (`TrainEpoch`), state resident in the
 * step module's memory (`wasm/src/step.ts`, the instance `cpu/step.ts` runs
 * steps in): the parameters and the optimizer's moments are copied in once at
 * the start and back once at the end, each replica's series bytes once (as
 * `EchoData` drew them at chunk 0), the state in once and out once; between,
 * one wasm call per chunk does what `trainEpoch` does around `cpuStep` (the
 * chunk's inputs and targets, forward, loss and right digits, the divergence
 * freeze of `lib/tally.ts`, backward, clip, update, the tallies, the state
 * carried), with the same arithmetic in the same order, so the results are
 * the per-step path's bit for bit (tests/kernels/epoch_test.ts). The tallies
 * are read every {@linkcode READ_MS} ms and after the last chunk.
 */
import { tf } from "../../tf.ts";
import type { EpochInput, StepModel, StepOptimizer, TrainEpoch } from "../kernel.ts";
import { CELL_CODE, copyIn, copyOut, layout, ruleArgs, shapeOf, wasm } from "./step.ts";

/**
 * Milliseconds between reads of the tallies: a read copies 3 S numbers and
 * calls the progress callback, a few microseconds, well under 1% of that.
 */
export const READ_MS = 50;

/** See the top of this file; null where the epoch cannot run here (the caller runs the steps). */
export const cpuEpoch: TrainEpoch = (model: StepModel, optimizer: StepOptimizer, input: EpochInput) => {
  const shape = shapeOf(model), { datas } = input;
  const vars = model.variables, S = vars[0]?.shape[0];
  if (!shape || vars[0].shape[2] !== 1 || datas.length !== S) return null;
  const first = optimizer.nextUpdate?.();
  if (!first) return null;
  const { cell, hidden: H, layers: L } = shape;
  const { batchSize: B, truncatedLength: T, seriesLength: series, length: n } = datas[0];
  const paramFloats = vars.reduce((k, v) => k + v.size, 0);
  const nState = cell === "lstm" ? 2 * L : L, stateFloats = S * B * H;
  const code = CELL_CODE[cell];
  const seriesBytes = S * B * series;
  const mem = layout({
    params: paramFloats,
    grads: paramFloats,
    m1: paramFloats,
    m2: first.kind === "adam" ? paramFloats : 0,
    xs: Math.ceil(seriesBytes / 4),
    ys: Math.ceil(seriesBytes / 4),
    x: S * B * T,
    y: S * B * T,
    stateIn: nState * stateFloats,
    stateOut: nState * stateFloats,
    loss: S,
    right: S,
    coef: S,
    alive: S,
    tallyLoss: S,
    tallyRight: 2 * S,
    scratch: wasm.scratchFloats(code, B, T, H, L, 1),
  });
  const buffer = wasm.memory.buffer;
  const f32 = new Float32Array(buffer), f64 = new Float64Array(buffer), u8 = new Uint8Array(buffer);
  const [m1, m2] = first.kind === "adam" ? [first.m, first.v] : [first.sq, null];
  copyIn(f32, mem, vars, m1, m2);
  // Chunk 0 draws each replica's series for the epoch (unless fixed), as the per-step path's first chunk does.
  datas.forEach((d, s) => {
    d.chunk(0);
    u8.set(d.xBatch, mem.xs * 4 + s * B * series);
    u8.set(d.yBatch, mem.ys * 4 + s * B * series);
  });
  if (input.state) input.state.forEach((t, i) => f32.set(t.dataSync() as Float32Array, mem.stateIn + i * stateFloats));
  else f32.fill(0, mem.stateIn, mem.stateIn + nState * stateFloats);
  for (let s = 0; s < S; s++) {
    f32[mem.alive + s] = input.alive[s] ? 1 : 0;
    f32[mem.tallyLoss + s] = input.loss[s];
    f64[mem.tallyRight / 2 + s] = input.correct[s];
  }
  const bytes = (floats: number) => floats * 4;
  wasm.epochBegin(
    code,
    S,
    B,
    T,
    H,
    L,
    series,
    ...[
      mem.params,
      mem.grads,
      mem.m1,
      mem.m2,
      mem.xs,
      mem.ys,
      mem.x,
      mem.y,
      mem.stateIn,
      mem.stateOut,
      mem.loss,
      mem.right,
      mem.coef,
      mem.alive,
      mem.tallyLoss,
      mem.tallyRight,
      mem.scratch,
    ].map(bytes),
    input.clip ?? 0,
    first.kind === "adam" ? 1 : 0,
  );
  const read = (done: number) => {
    for (let s = 0; s < S; s++) {
      input.alive[s] = f32[mem.alive + s] !== 0;
      input.loss[s] = f32[mem.tallyLoss + s];
      input.correct[s] = f64[mem.tallyRight / 2 + s];
    }
    input.onRead?.(done);
  };
  let nextRead = performance.now() + READ_MS;
  for (let i = 0; i < n; i++) {
    const update = i === 0 ? first : optimizer.nextUpdate!()!;
    const [, lr, a, b, eps, c1, c2] = ruleArgs(update);
    wasm.epochChunk(i, lr, a, b, eps, c1, c2);
    if (i + 1 === n) read(n);
    else if (input.onRead && performance.now() >= nextRead) {
      read(i + 1);
      nextRead = performance.now() + READ_MS;
    }
  }
  copyOut(f32, mem, vars, m1, m2);
  const state = Array.from(
    { length: nState },
    (_, i) => tf.tensor3d(f32.slice(mem.stateIn + i * stateFloats, mem.stateIn + (i + 1) * stateFloats), [S, B, H]),
  );
  return { state };
};
