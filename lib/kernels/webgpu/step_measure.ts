/**
 * What one fused WebGPU training step costs the host, measured (issue 17,
 * part 4): dispatches per step (the step's own, and every compute dispatch
 * the device saw, the tally's `live` included), buffer copies, and the
 * JavaScript milliseconds to encode and submit a step, without waiting for
 * the device (each step's results are read only after the last). Time inside
 * `GPUQueue.submit` is counted apart: on a software adapter (llvmpipe) the
 * shaders run inside it, in this process, so it measures the device there.
 * For `deno task bench` to report per webgpu row; not the step (`step.ts`).
 */
import { tf } from "../../tf.ts";
import type { StepModel, StepOptimizer } from "../kernel.ts";
import { resetStepCounts, stepCounts, webgpuStep } from "./step.ts";
import { epochCounts, resetEpochCounts } from "./epoch.ts";

/** Per-step figures of {@linkcode measureWebGpuStep}. */
export interface StepMeasure {
  steps: number;
  tiles: number;
  /** The fused step's own dispatches per step (its WGSL programs). */
  dispatches: number;
  /** Every compute dispatch per step, tfjs's included (the tally's `live`; 0 more where the step runs fused). */
  deviceDispatches: number;
  copies: number;
  /** Host milliseconds per step: the JavaScript time of the step call less the time inside `GPUQueue.submit`. */
  hostMs: number;
  /** Milliseconds per step inside `GPUQueue.submit` (llvmpipe runs the shaders there). */
  submitMs: number;
}

/**
 * Runs `warmup` steps (pipelines compile), then `steps` more on chunk `x`,
 * `y` `[S, B, T, 1]`, state carried, with a live mask kept on the device as
 * `DeviceTally` keeps it; reads the last loss at the end, after timing.
 */
export async function measureWebGpuStep(
  model: StepModel,
  optimizer: StepOptimizer,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  { steps = 5, warmup = 1, clip = 0 }: { steps?: number; warmup?: number; clip?: number } = {},
): Promise<StepMeasure> {
  let alive = tf.ones([x.shape[0]]) as tf.Tensor1D;
  let state: tf.Tensor3D[] | null = null;
  const one = () => {
    const out = webgpuStep(model, optimizer, {
      x,
      y,
      state,
      clip,
      live: (loss) => {
        const next = tf.keep(tf.mul(alive, tf.cast(tf.isFinite(loss), "float32")) as tf.Tensor1D);
        alive.dispose();
        return alive = next;
      },
    });
    if (state) tf.dispose(state);
    state = out.state;
    return out;
  };
  for (let i = 0; i < warmup; i++) {
    const out = one();
    tf.dispose([out.loss, out.right]);
  }
  await alive.data();
  resetStepCounts();
  let hostMs = 0;
  let last: tf.Tensor1D | null = null;
  const watch = watchDevice();
  try {
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      const out = one();
      hostMs += performance.now() - start;
      last?.dispose();
      out.right.dispose();
      last = out.loss;
    }
  } finally {
    watch.stop();
  }
  await last?.data();
  last?.dispose();
  tf.dispose([alive, ...(state ?? [])]);
  const c = stepCounts();
  return {
    steps,
    tiles: c.tiles,
    dispatches: c.dispatches / steps,
    deviceDispatches: watch.dispatches / steps,
    copies: c.copies / steps,
    hostMs: (hostMs - watch.submitMs) / steps,
    submitMs: watch.submitMs / steps,
  };
}

/** Per-chunk figures of the WebGPU epochs {@linkcode measureWebGpuEpochs} ran (a chunk is one training step). */
export interface EpochMeasure {
  chunks: number;
  /** Tiles of the fused step's last chunk. */
  tiles: number;
  /** Every compute dispatch per chunk: the data (2), the fused step (2 per tile) and the tallies (2). */
  dispatches: number;
  /** The fused step's own dispatches per chunk. */
  stepDispatches: number;
  /** Host milliseconds per chunk: the epochs' JavaScript time, less waits for reads and time inside `submit`. */
  hostMs: number;
  /** Milliseconds per chunk inside `GPUQueue.submit` (llvmpipe runs the shaders there). */
  submitMs: number;
}

/**
 * Counts the compute dispatches the device is given and the milliseconds spent inside `GPUQueue.submit` (where
 * llvmpipe runs the shaders) from now until `stop`, by wrapping the two WebGPU methods; `stop` puts them back.
 */
function watchDevice(): { readonly dispatches: number; readonly submitMs: number; stop(): void } {
  const proto = GPUComputePassEncoder.prototype, queue = GPUQueue.prototype;
  const dispatch = proto.dispatchWorkgroups, submit = queue.submit;
  const seen = { dispatches: 0, submitMs: 0 };
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...args: Parameters<typeof dispatch>) {
    seen.dispatches++;
    return dispatch.apply(this, args);
  };
  queue.submit = function (this: GPUQueue, ...args: Parameters<typeof submit>) {
    const start = performance.now();
    try {
      return submit.apply(this, args);
    } finally {
      seen.submitMs += performance.now() - start;
    }
  };
  return {
    get dispatches() {
      return seen.dispatches;
    },
    get submitMs() {
      return seen.submitMs;
    },
    stop() {
      proto.dispatchWorkgroups = dispatch;
      queue.submit = submit;
    },
  };
}

/**
 * Runs `run` (training epochs through `trainEpoch`, which takes `epoch.ts`'s WebGPU epoch) and measures what its
 * WebGPU epochs cost the host per chunk; null where no WebGPU epoch ran (the per-step path did).
 */
export async function measureWebGpuEpochs<T>(
  run: () => Promise<T>,
): Promise<{ value: T; measure: EpochMeasure | null }> {
  resetEpochCounts();
  resetStepCounts();
  const watch = watchDevice();
  let value: T;
  try {
    value = await run();
  } finally {
    watch.stop();
  }
  const e = epochCounts(), s = stepCounts();
  if (e.chunks === 0) return { value, measure: null };
  return {
    value,
    measure: {
      chunks: e.chunks,
      tiles: s.tiles,
      dispatches: watch.dispatches / e.chunks,
      stepDispatches: s.dispatches / e.chunks,
      hostMs: (e.hostMs - watch.submitMs) / e.chunks,
      submitMs: watch.submitMs / e.chunks,
    },
  };
}
