/**
 * What a run needs of a WebGPU adapter's buffer limits, checked before the
 * first step. A tensor larger than `maxStorageBufferBindingSize` (128 MiB on
 * llvmpipe and many GPUs) is bound short and reads back as zeros, silently,
 * so a run whose largest tensor would pass the limit is refused up front
 * with one line naming the limit and the most seeds that fit.
 *
 * Not the kernels (`layer.ts`, `update.ts`) nor the hidden-size limit of the
 * fused layers (`WEBGPU_MAX_HIDDEN` in `layer.ts`); `../mod.ts` calls this.
 */
import { tf } from "../../tf.ts";
import { UsageError } from "../../usage_error.ts";
import { type CellKind, GATES } from "../../cells.ts";

/** The run's sizes that set its largest tensor. */
export interface BufferDims {
  seeds: number;
  batch: number;
  bptt: number;
  hidden: number;
  cell: CellKind;
  echoStep: number;
}

/**
 * Float32 values per batch row, time step and hidden unit of the widest
 * tensor of a layer's step: the fused forward's tape (LSTM h, c and four
 * gates: 6; GRU h, three gates and W_hn h + b_hn: 5) or the fused backward's
 * gate gradients plus its two state columns (gates + 2: RNN 3, LSTM and GRU
 * 6); the op-level path's input projection (gates) is never wider.
 */
const WIDTH: Record<CellKind, number> = { rnn: 3, irnn: 3, lstm: 6, gru: 6 };

/**
 * Bytes of the largest tensor one replica adds to a run: a chunk's widest
 * per-step tensor over the longer of a training chunk (batch x T) and the
 * random-sequence check (one sequence of max(100, 2 x echo step)), or a
 * recurrent weight matrix with its gradient and moments (gates x H x H).
 */
export function largestBufferPerReplica(d: Omit<BufferDims, "seeds">): number {
  const rowSteps = Math.max(d.batch * d.bptt, Math.max(100, 2 * d.echoStep));
  return 4 * Math.max(rowSteps * WIDTH[d.cell] * d.hidden, GATES[d.cell] * d.hidden * d.hidden);
}

/** The largest tensor a run of `d.seeds` replicas allocates, in bytes (see {@linkcode largestBufferPerReplica}). */
export function largestBuffer(d: BufferDims): number {
  return d.seeds * largestBufferPerReplica(d);
}

/** The active webgpu backend's binding limit in bytes: the smaller of the storage binding and buffer limits. */
export function webgpuBufferLimit(): number {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  if (!device) throw new Error(`the webgpu limits need the webgpu backend, not ${tf.getBackend()}`);
  return Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * Throws a {@linkcode UsageError} when the run's largest tensor would pass
 * `limit` (default: the active adapter's, {@linkcode webgpuBufferLimit}),
 * naming the limit and the most seeds that fit at these sizes.
 */
export function assertFitsWebGpu(d: BufferDims, limit = webgpuBufferLimit()): void {
  const need = largestBuffer(d);
  if (need <= limit) return;
  const fit = Math.floor(limit / largestBufferPerReplica(d));
  throw new UsageError(
    `--seeds ${d.seeds} x --batch ${d.batch} x --bptt ${d.bptt} x --hidden ${d.hidden} (${d.cell}) needs a ` +
      `${mib(need)} buffer, over this WebGPU adapter's binding limit of ${mib(limit)}; ` +
      (fit > 0 ? `at most ${fit} seeds fit at these sizes` : `no seed fits: lower --hidden, --batch or --bptt`),
  );
}
