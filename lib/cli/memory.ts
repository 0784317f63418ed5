/**
 * What a run will hold in memory, estimated from its flags before it
 * allocates, and the rule that refuses one over `--max-memory` or over what
 * the wasm backend can hold, naming the flags that make it large. Not the
 * WebGPU adapter's buffer limits (lib/kernels/webgpu/limits.ts).
 */
import { type CellKind, GATES } from "../cells.ts";
import type { OptimizerName } from "../optim.ts";
import { UsageError } from "../usage_error.ts";
import { tensorBudget } from "../backend.ts";
import { ACTIVATION_FACTOR } from "../kernels/mod.ts";

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

/** Float32 values per replica, batch row and time step independent of H: logits, targets, loss terms. */
const PER_STEP_FLOATS = 32;

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
 * than `budgetGiB` (see {@linkcode estimateMemory}), or more tensor memory
 * than `backend` can hold (lib/backend.ts `tensorBudget`: wasm's 3 GiB).
 */
export function assertMemory(
  c: Parameters<typeof estimateMemory>[0] & { budgetGiB: number; backend?: string },
  flags: { seeds?: string; hidden?: string } = {},
): void {
  const e = estimateMemory(c);
  const overBudget = e.total > c.budgetGiB * 2 ** 30;
  const budget = tensorBudget(c.backend ?? "auto");
  const overWasm = e.parameters + e.activations > budget;
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
        `${gib(budget)} the ${c.backend} backend can hold; lower those flags or use --backend cpu`,
    );
  }
  throw new UsageError(
    `this run needs about ${gib(e.total)} (${worst}), over the --max-memory budget of ${c.budgetGiB} GiB; ` +
      `lower those flags or raise --max-memory`,
  );
}
