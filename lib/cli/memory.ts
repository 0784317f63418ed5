/**
 * What a run will hold in memory, estimated from its flags before it
 * allocates, and the rule that refuses one over `--max-memory` or over what
 * the wasm backend can hold, naming the flags that make it large. Not the
 * WebGPU adapter's buffer limits (lib/kernels/webgpu/limits.ts).
 */
import { type CellKind, GATES } from "../cells.ts";
import type { OptimizerName } from "../optim.ts";
import { UsageError } from "../usage_error.ts";

/** Trainable numbers of one replica, as `SimpleRNN.parameterCount` counts them. */
export function parameterCount(cell: CellKind, hidden: number, layers: number, inputSize = 1): number {
  let n = 0;
  for (let l = 0; l < layers; l++) n += GATES[cell] * hidden * ((l === 0 ? inputSize : hidden) + hidden + 2);
  return n + hidden + 1;
}

/** What a run holds at once, in bytes, and the flags each part grows with. */
export interface MemoryEstimate {
  data: number;
  parameters: number;
  activations: number;
  total: number;
}

/**
 * Float32 values a training step keeps alive per replica, batch row, time
 * step, layer and hidden unit of each gate block plus one (forward values,
 * the tape of tfjs's autodiff or the fused kernels, gradients and
 * temporaries), measured with the largest live tensor bytes over an epoch of
 * every cell at H 1-128, 1-3 layers (op-level 12-26, fused 4-19 with the
 * per-step floats below; see tests/failures_test.ts, which checks the
 * estimate against a measured run).
 */
export const ACTIVATION_FACTOR: Record<"op" | "fused", number> = { op: 28, fused: 8 };

/** Float32 values per replica, batch row and time step independent of H: logits, targets, loss terms. */
const PER_STEP_FLOATS = 32;

/**
 * Bytes of tensors the wasm backend may hold: its memory is one WebAssembly
 * memory of at most 4 GiB that grows by copying, so a run is refused well
 * before that (past it tfjs-wasm aborts mid-run).
 */
export const WASM_TENSOR_BUDGET = 3 * 2 ** 30;

/**
 * Bytes a run needs before it allocates: its data (seeds x batch x series
 * bits, x and y, train and test: one byte each, in JavaScript), its
 * parameters with their gradients and optimizer moments (float32), and the
 * activations of one truncated-BPTT chunk for the recurrence that will run
 * (`kernel`, see {@linkcode ACTIVATION_FACTOR}; default `op`, the larger).
 */
export function estimateMemory(c: {
  seeds: number;
  batch: number;
  series: number;
  bptt: number;
  hidden: number;
  layers: number;
  cell: CellKind;
  optimizer: OptimizerName;
  kernel?: "op" | "fused";
}): MemoryEstimate {
  const moments = c.optimizer === "adam" ? 2 : 1;
  const data = c.seeds * c.batch * c.series * 2 * 2;
  const parameters = c.seeds * parameterCount(c.cell, c.hidden, c.layers) * 4 * (2 + moments);
  const perStep = c.layers * (GATES[c.cell] + 1) * c.hidden * ACTIVATION_FACTOR[c.kernel ?? "op"] +
    PER_STEP_FLOATS;
  const activations = c.seeds * c.batch * c.bptt * perStep * 4;
  return { data, parameters, activations, total: data + parameters + activations };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Throws a {@linkcode UsageError} naming the flags that make a run need more
 * than `budgetGiB` (see {@linkcode estimateMemory}), or, on the wasm backend
 * (`backend` "wasm"), more tensor memory than {@linkcode WASM_TENSOR_BUDGET}.
 */
export function assertMemory(
  c: Parameters<typeof estimateMemory>[0] & { budgetGiB: number; backend?: string },
  flags: { seeds?: string; hidden?: string } = {},
): void {
  const e = estimateMemory(c);
  const overBudget = e.total > c.budgetGiB * 2 ** 30;
  const overWasm = c.backend === "wasm" && e.parameters + e.activations > WASM_TENSOR_BUDGET;
  if (!overBudget && !overWasm) return;
  const seeds = `${flags.seeds ?? "--seeds"} ${c.seeds}`, hidden = `${flags.hidden ?? "--hidden"} ${c.hidden}`;
  const parts: [number, string][] = [
    [e.data, `data ${gib(e.data)} from ${seeds} x --batch ${c.batch} x --series ${c.series}`],
    [
      e.parameters,
      `parameters and optimizer state ${gib(e.parameters)} from ${seeds} x ${hidden} x --layers ${c.layers}`,
    ],
    [
      e.activations,
      `${c.kernel === "fused" ? "fused-kernel" : "op-level"} activations ${
        gib(e.activations)
      } from ${seeds} x --batch ${c.batch} x --bptt ${c.bptt} x ${hidden} x --layers ${c.layers}`,
    ],
  ];
  const [, worst] = parts.filter((p) => !overWasm || p !== parts[0]).reduce((a, b) => (b[0] > a[0] ? b : a));
  if (overWasm && !overBudget) {
    throw new UsageError(
      `this run needs about ${gib(e.parameters + e.activations)} of tensors (${worst}), over the ` +
        `${gib(WASM_TENSOR_BUDGET)} the wasm backend can hold; lower those flags or use --backend cpu`,
    );
  }
  throw new UsageError(
    `this run needs about ${gib(e.total)} (${worst}), over the --max-memory budget of ${c.budgetGiB} GiB; ` +
      `lower those flags or raise --max-memory`,
  );
}
