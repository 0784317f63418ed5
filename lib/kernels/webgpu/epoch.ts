/**
 * The WebGPU family's whole training epoch (`TrainEpoch`, issue 17): the data made on the device, the fused step per
 * chunk, the tallies kept on the device. Per chunk, with nothing uploaded but uniforms:
 *
 * 1. x and y `[S, B, T]` by `echo_bits.ts`'s `echoBitsWebGpu` from the replicas' seeds, stream and draw (2
 *    dispatches): the very bits `EchoData.chunk` would give, so the step sees what the per-step path uploads;
 * 2. the fused step (`step.ts`, 2 dispatches per tile), whose `live` is {@linkcode liveProgram} (1 dispatch): the
 *    divergence freeze of `lib/tally.ts`'s `DeviceTally` (alive times isFinite(loss));
 * 3. {@linkcode addProgram} (1 dispatch): the last loss of each replica alive and its right digits, summed, as
 *    `DeviceTally.add`.
 *
 * The tallies live in one `[3, S]` tensor (alive, last loss, right digits since the last read), read every
 * {@linkcode EPOCH_READ_EVERY} chunks and after the last. A read is pipelined: the snapshot's copy is queued at once
 * and awaited only at the next read, so the device has the next chunks queued while the host waits.
 *
 * At the epoch's start each replica's `EchoData` draw advances as `chunk(0)` would advance it (unless the series is
 * fixed), and the GPU makes that draw; its `xBatch` and `yBatch` are not refilled (the series lives on the device):
 * every path that reads them calls `chunk(0)` first, which draws the next series on the host, so later epochs and
 * the test pass (another stream) stay in step. Results are the per-step path's (`trainEpoch` with `webgpuStep`
 * chunk by chunk) bit for bit: the same WGSL step on the same bits, the same tallies exactly
 * (tests/kernels/webgpu_epoch_test.ts).
 *
 * Where the fused step does not run (H past 64, an optimizer of another family, a model that does not give its
 * shape, data other than `EchoData`'s), it returns null having changed nothing, and `trainEpoch` runs the steps.
 */
import { tf } from "../../tf.ts";
import type { EpochData, EpochInput, StepModel, StepOptimizer } from "../kernel.ts";
import { echoBitsWebGpu, seedTensor } from "./echo_bits.ts";
import { webgpuBufferLimit } from "./limits.ts";
import { type ProgramUniforms, runProgram, type WebGpuProgram } from "./program.ts";
import { stepPlanForShape, webgpuStep } from "./step.ts";

/** Chunks between reads of the tallies (as `lib/train.ts`'s `GPU_READ_EVERY` for the per-step path). */
export const EPOCH_READ_EVERY = 10;

/** What the epoch reads of `EchoData` besides `EpochData`: where its bits come from. */
interface EchoSource extends EpochData {
  readonly seed: number;
  readonly stream: number;
  draw: number;
  readonly echoStep: number;
  readonly fixedSeries: boolean;
}

function echoSources(datas: EpochData[]): EchoSource[] | null {
  const ok = datas.every((d) => {
    const e = d as Partial<EchoSource>;
    return typeof e.seed === "number" && typeof e.stream === "number" && typeof e.draw === "number" &&
      typeof e.echoStep === "number" && typeof e.fixedSeries === "boolean";
  });
  if (!ok || datas.length === 0) return null;
  const [a, ...rest] = datas as EchoSource[];
  const same = rest.every((d) =>
    d.batchSize === a.batchSize && d.truncatedLength === a.truncatedLength && d.seriesLength === a.seriesLength &&
    d.echoStep === a.echoStep && d.stream === a.stream
  );
  return same ? datas as EchoSource[] : null;
}

/** Host-side counts of the programs and reads this module ran, for tests and the bench. */
export interface EpochCounts {
  epochs: number;
  chunks: number;
  /** Reads of the tallies (each a copy to the host and a wait). */
  reads: number;
  /**
   * JavaScript milliseconds inside the epochs, waits for the device's reads left out (time inside
   * `GPUQueue.submit` is in: a software adapter runs the shaders there; `step_measure.ts` takes it apart).
   */
  hostMs: number;
}

const counts: EpochCounts = { epochs: 0, chunks: 0, reads: 0, hostMs: 0 };

/** The counts since {@linkcode resetEpochCounts}. */
export function epochCounts(): EpochCounts {
  return { ...counts };
}

export function resetEpochCounts(): void {
  Object.assign(counts, { epochs: 0, chunks: 0, reads: 0, hostMs: 0 });
}

const GROUP = 64;

const FINITE = `fn finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }`;

/** Alive (row 0) times isFinite(loss), rows 1 and 2 kept: `DeviceTally.live`. */
function liveProgram(S: number): WebGpuProgram {
  return {
    outputShape: [3, S],
    shaderKey: "echolab_epoch_live",
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((3 * S) / GROUP), 1, 1],
    workgroupSize: [GROUP, 1, 1],
    variableNames: ["tally", "loss"],
    size: true,
    getUserCode: () => `
${FINITE}
fn main(index: i32) {
  if (index < uniforms.size) {
    var v = tally[index];
    if (index < uniforms.outShape[1]) { v = select(0.0, v, finite(loss[index])); }
    result[index] = v;
  }
}
`,
  };
}

/**
 * The step's loss where alive (row 1) and its right digits times alive added to row 2, which starts from 0 when
 * `reset` (the chunk after a read): `DeviceTally.add`.
 */
function addProgram(S: number): WebGpuProgram {
  return {
    outputShape: [3, S],
    shaderKey: "echolab_epoch_add",
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((3 * S) / GROUP), 1, 1],
    workgroupSize: [GROUP, 1, 1],
    variableNames: ["tally", "loss", "right"],
    size: true,
    uniforms: "reset : i32,",
    getUserCode: () => `
fn main(index: i32) {
  if (index < uniforms.size) {
    let S = uniforms.outShape[1];
    let row = index / S; let r = index - row * S;
    let alive = tally[r];
    var v = tally[index];
    if (row == 1) { v = select(v, loss[r], alive != 0.0); }
    if (row == 2) { v = select(v, 0.0, uniforms.reset != 0) + right[r] * alive; }
    result[index] = v;
  }
}
`,
  };
}

/** See the top of this file; null where the fused step does not run (the caller then runs the steps). */
export async function webgpuEpoch(
  model: StepModel,
  optimizer: StepOptimizer,
  input: EpochInput,
): Promise<{ state: tf.Tensor3D[] } | null> {
  const vars = model.variables, S = vars[0]?.shape[0];
  const datas = echoSources(input.datas);
  if (!datas || datas.length !== S || vars[0].shape[2] !== 1) return null;
  const { batchSize: B, truncatedLength: T, length: n, echoStep, stream } = datas[0];
  if (typeof stepPlanForShape(model, optimizer, [S, B, T, 1]) === "string") return null;
  // One chunk's x (and y) in one binding: past that, the per-step path (tiles of the data are not made here).
  if (4 * S * B * T > webgpuBufferLimit()) return null;

  const start = performance.now();
  let waited = 0;
  const wait = async <X>(p: Promise<X>) => {
    const from = performance.now();
    try {
      return await p;
    } finally {
      waited += performance.now() - from;
    }
  };
  // Chunk 0 draws each replica's series for the epoch (unless fixed), as the per-step path's first chunk does.
  for (const d of datas) if (!d.fixedSeries) d.draw++;
  const drawList = datas.map((d) => d.draw);
  const owned: tf.Tensor[] = [];
  const keep = <X extends tf.Tensor>(t: X) => (owned.push(t), t);
  const seeds = keep(seedTensor(datas.map((d) => d.seed)));
  const draw = drawList.every((v) => v === drawList[0])
    ? drawList[0]
    : keep(tf.tensor1d(new Int32Array(Uint32Array.from(drawList, (v) => v >>> 0).buffer), "int32"));
  const live = liveProgram(S), add = addProgram(S);
  let tally = tf.tensor2d([...input.alive.map((a) => (a ? 1 : 0)), ...input.loss, ...input.alive.map(() => 0)], [
    3,
    S,
  ]);
  let state = input.state;
  let pending: { done: number; tally: tf.Tensor; values: Promise<ArrayLike<number>> } | null = null;
  const land = async () => {
    if (!pending) return;
    const { done, tally: t, values } = pending;
    pending = null;
    const v = await wait(values);
    t.dispose();
    for (let r = 0; r < S; r++) {
      input.alive[r] = v[r] !== 0;
      input.loss[r] = v[S + r];
      input.correct[r] += v[2 * S + r];
    }
    counts.reads++;
    input.onRead?.(done);
  };
  let reset = 0;
  try {
    for (let i = 0; i < n; i++) {
      const { x, y } = echoBitsWebGpu({ seeds, stream, draw, batch: B, length: T, start: i * T, echoStep });
      const x4 = tf.reshape(x, [S, B, T, 1]) as tf.Tensor4D, y4 = tf.reshape(y!, [S, B, T, 1]) as tf.Tensor4D;
      tf.dispose([x, y!]);
      const out = webgpuStep(model, optimizer, {
        x: x4,
        y: y4,
        state,
        clip: input.clip,
        live: (loss) => {
          const next = tf.keep(runProgram(live, [tally, loss]) as tf.Tensor2D);
          if (tally !== pending?.tally) tally.dispose();
          return (tally = next) as unknown as tf.Tensor1D;
        },
      });
      tf.dispose([x4, y4]);
      if (state !== input.state) tf.dispose(state ?? []);
      state = out.state;
      const uniforms: ProgramUniforms = [{ type: "int32", data: [reset] }];
      const next = runProgram(add, [tally, out.loss, out.right], uniforms) as tf.Tensor2D;
      if (tally !== pending?.tally) tally.dispose();
      tally = next;
      tf.dispose([out.loss, out.right]);
      counts.chunks++;
      reset = 0;
      if ((i + 1) % EPOCH_READ_EVERY !== 0 && i + 1 !== n) continue;
      // The previous snapshot lands while this one's chunks run; then this one is queued.
      await land();
      pending = { done: i + 1, tally, values: tally.data() };
      reset = 1;
    }
    await land();
  } catch (e) {
    if (state !== input.state) tf.dispose(state ?? []);
    throw e;
  } finally {
    if (pending) {
      await (pending as { values: Promise<unknown> }).values.catch(() => {});
      (pending as { tally: tf.Tensor }).tally.dispose();
    }
    if (!tally.isDisposed) tally.dispose();
    tf.dispose(owned);
  }
  counts.epochs++;
  counts.hostMs += performance.now() - start - waited;
  return { state: state ?? [] };
}
