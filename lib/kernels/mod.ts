/**
 * The kernels' one room, and the one place a kernel is chosen. A kernel is
 * what a model, its optimizer and the training loop run on (see
 * `kernel.ts`), in three families: `op/` (tfjs ops, the reference every
 * other kernel is tested against), `cpu/` (fused layers with wasm SIMD
 * matmuls, optimizer loops over Float32Arrays) and `webgpu/` (WGSL). Each
 * family states its own limits beside its code (`webgpu/layer.ts`'s hidden
 * size, `webgpu/limits.ts`'s buffer sizes). Nothing outside this folder and
 * `lib/backend.ts` asks which backend runs.
 *
 * To add a kernel: implement `Kernel` in a sub-folder, and teach
 * {@linkcode kernelFor} when to pick it and why.
 */
import type { CellKind } from "../cells.ts";
import { tensorsOnHost } from "../backend.ts";
import type { Kernel } from "./kernel.ts";
import { opLayer, opLinear } from "./op/layer.ts";
import { opUpdate } from "./op/update.ts";
import { autogradStep } from "./op/step.ts";
import { cpuLayer, cpuLinear } from "./cpu/layer.ts";
import { cpuUpdate } from "./cpu/update.ts";
import { cpuStep } from "./cpu/step.ts";
import { cpuEpoch } from "./cpu/epoch.ts";
import { WEBGPU_MAX_HIDDEN, webgpuLayer } from "./webgpu/layer.ts";
import { assertFitsWebGpu, type BufferDims } from "./webgpu/limits.ts";
import { UsageError } from "../usage_error.ts";
import { webgpuUpdate } from "./webgpu/update.ts";
import { webgpuStep } from "./webgpu/step.ts";
import { webgpuEpoch } from "./webgpu/epoch.ts";
import { STEP_MAX_HIDDEN } from "./webgpu/step_plan.ts";

export type * from "./kernel.ts";
export { clipGradNorm } from "./op/step.ts";
export { momentArrays } from "./cpu/update.ts";

/**
 * The `--kernel` choices: `fused` (one op per layer and a fused optimizer,
 * on the active backend's family), `op` (tfjs ops, the reference), `auto`
 * (fused where the backend has a family that runs the model).
 */
export const KERNELS = ["auto", "fused", "op"] as const;
export type KernelKind = typeof KERNELS[number];

/**
 * Float32 values a training step keeps alive per replica, batch row, time
 * step, layer and hidden unit of each gate block plus one (forward values,
 * the tape of tfjs's autodiff or the fused kernels, gradients and
 * temporaries), by recurrence: measured with the largest live tensor bytes
 * over an epoch of every cell at H 1-128, 1-3 layers (op-level 12-26, fused
 * 4-19; tests/experiments/failures_test.ts checks lib/cli/memory.ts's estimate built on
 * it against a measured run).
 */
export const ACTIVATION_FACTOR: Record<"op" | "fused", number> = { op: 28, fused: 8 };

/** The reference: tfjs ops throughout. */
const OP: Kernel = {
  family: "op",
  recurrence: "op",
  layer: opLayer,
  linear: opLinear,
  update: opUpdate,
  step: autogradStep,
};

/**
 * Fused layers with wasm SIMD matmuls and optimizer loops, on tensors in CPU
 * memory; the training step is one wasm module's (`cpu/step.ts`), which runs
 * `autogradStep` itself where it cannot (an optimizer of another family), and
 * a whole epoch runs in that module with its state resident (`cpu/epoch.ts`;
 * where it cannot, `trainEpoch` runs the steps).
 */
const CPU: Kernel = {
  family: "cpu",
  recurrence: "fused",
  layer: cpuLayer,
  linear: cpuLinear,
  update: cpuUpdate,
  step: cpuStep,
  epoch: cpuEpoch,
};

/**
 * The cells whose CPU step is the wasm step: all of them. (LSTM came last: over five RMSprop steps at lr 0.01 its
 * float32 rounding, amplified where a gradient is near eps, lands 1.2e-6 from autodiff, and
 * tests/optim/train_test.ts now bounds the distance to its reference at 1e-5, against 0.2 without the state carried.)
 */
const WASM_STEP_CELLS: ReadonlySet<CellKind> = new Set(["rnn", "irnn", "lstm", "gru"]);

/** The CPU kernel for `cell`: {@linkcode CPU}, or with `autogradStep` for cells not in {@linkcode WASM_STEP_CELLS}. */
function cpuKernel(cell: CellKind): Kernel {
  return WASM_STEP_CELLS.has(cell) ? CPU : { ...CPU, step: autogradStep, epoch: undefined };
}

/**
 * WGSL layers and optimizer; the projections and head stay tfjs matmuls (fast
 * on a GPU). The training step is the fused WGSL step (`webgpu/step.ts`: two
 * dispatches per tile of replicas, no tfjs op) at H up to 64 with
 * `lib/optim.ts`'s optimizers on this family; elsewhere it runs
 * `autogradStep` itself around these layers and updates.
 */
const WEBGPU: Kernel = {
  family: "webgpu",
  recurrence: "fused",
  layer: webgpuLayer,
  linear: opLinear,
  update: webgpuUpdate,
  step: webgpuStep,
  epoch: webgpuEpoch,
};

/** What the choice depends on. */
export interface KernelQuery {
  /** A tfjs backend's name (`tf.getBackend()`), or `auto` before one is loaded (assumed to get fused kernels). */
  backend: string;
  /** What `--kernel` asked for. @default "auto" */
  kernel?: KernelKind;
  cell: CellKind;
  hidden: number;
  layers?: number;
  optimizer?: string;
  clip?: number;
}

/** A kernel and, in words, why it was chosen (the run prints it and its CSV records it). */
export interface KernelChoice {
  kernel: Kernel;
  reason: string;
}

/**
 * The kernel a model runs for `q`, and why. Today the family depends on the
 * backend and `--kernel`, and on webgpu on the hidden size (the WGSL layers
 * run one thread per hidden unit, up to {@linkcode WEBGPU_MAX_HIDDEN}); the
 * layers, optimizer and clip are asked for the kernels to come that run a
 * whole step at once. Throws a {@linkcode UsageError} for `--kernel fused`
 * that cannot run (webgpu past its hidden size).
 */
export function kernelFor(q: KernelQuery): KernelChoice {
  const kernel = q.kernel ?? "auto", on = `on ${q.backend}`;
  if (kernel === "op") return { kernel: OP, reason: "--kernel op: tfjs ops (the reference)" };
  if (q.backend === "webgpu") {
    if (q.hidden <= STEP_MAX_HIDDEN) {
      return { kernel: WEBGPU, reason: `${on}: the whole training step in two WGSL dispatches per tile of replicas` };
    }
    if (q.hidden <= WEBGPU_MAX_HIDDEN) {
      return {
        kernel: WEBGPU,
        reason: `${on}: WGSL layers and optimizer (the whole WGSL step takes H up to ${STEP_MAX_HIDDEN})`,
      };
    }
    if (kernel === "fused") {
      throw new UsageError(`--kernel fused on webgpu takes --hidden up to ${WEBGPU_MAX_HIDDEN}, got ${q.hidden}`);
    }
    return {
      kernel: { ...WEBGPU, recurrence: "op", layer: opLayer },
      reason: `${on}: tfjs-op layers (the WGSL layers take H up to ${WEBGPU_MAX_HIDDEN}) and WGSL optimizer`,
    };
  }
  if (q.backend === "auto" || tensorsOnHost(q.backend)) {
    return { kernel: cpuKernel(q.cell), reason: `${on}: the whole training step in one wasm SIMD module` };
  }
  if (kernel === "fused") {
    return {
      kernel: cpuKernel(q.cell),
      reason: `--kernel fused ${on}: CPU fused layers and optimizer loops through host copies`,
    };
  }
  return { kernel: OP, reason: `${on}: tfjs ops (no fused kernels for this backend)` };
}

/**
 * The reasons a run with `q`'s backend, cell and size could have recorded
 * for each recurrence, over every `--kernel` choice that runs there (first
 * `auto`'s): what a CSV's `kernel_reason` is checked against, and filled
 * from for rows written before the column existed.
 */
export function reasonsFor(q: Omit<KernelQuery, "kernel">): { recurrence: "fused" | "op"; reason: string }[] {
  return KERNELS.flatMap((kernel) => {
    try {
      const { kernel: k, reason } = kernelFor({ ...q, kernel });
      return [{ recurrence: k.recurrence, reason }];
    } catch {
      return [];
    }
  });
}

/**
 * The reasons `kernelFor` gave for `q` before its present words, for each
 * recurrence: CSVs written then hold them, so a CSV's `kernel_reason` is
 * checked against these too, and a row written before the column existed is
 * filled from them first (lib/migrations.ts). Until issues 16 and 17 the CPU
 * and WebGPU families ran tfjs's autodiff around fused layers.
 */
export function earlierReasonsFor(q: Omit<KernelQuery, "kernel">): { recurrence: "fused" | "op"; reason: string }[] {
  if (q.backend === "auto" || tensorsOnHost(q.backend)) {
    return [{
      recurrence: "fused",
      reason: `on ${q.backend}: fused layers with wasm SIMD matmuls and optimizer loops`,
    }];
  }
  if (q.backend === "webgpu" && q.hidden <= STEP_MAX_HIDDEN) {
    return [{ recurrence: "fused", reason: `on ${q.backend}: WGSL layers and optimizer` }];
  }
  return [];
}

/** Whether the layers of a model run fused or as tfjs ops for `q` (memory estimates count them apart). */
export function recurrenceFor(q: KernelQuery): "fused" | "op" {
  return kernelFor(q).kernel.recurrence;
}

/**
 * The kernel for a run of these sizes on the active backend `q.backend`,
 * after checking it fits there: throws a {@linkcode UsageError} for
 * `--kernel fused` past the WGSL layers' hidden size, or a tensor past the
 * WebGPU adapter's buffer limit (`webgpu/limits.ts`).
 */
export function assertKernelFits(q: KernelQuery & Omit<BufferDims, "cell" | "hidden">): KernelChoice {
  const choice = kernelFor(q);
  if (choice.kernel.family === "webgpu") assertFitsWebGpu(q);
  return choice;
}
