/**
 * The bench CSV's header and models (`deno task bench`, bench/bench.ts), and
 * the migration that brought older bench CSVs to this header. Read back by
 * lib/schemas.ts (`BENCH_CSV`), migrated by lib/migrations.ts.
 */
import { macsPerReplicaStep } from "./macs.ts";

/** Columns of bench-*.csv: units in the names, one kind of value per column. */
export const BENCH_COLUMNS = [
  "run_id",
  "impl",
  "backend",
  "threads",
  "processes",
  "model",
  "replicas_per_process",
  "ms_per_step",
  "replica_steps_per_s",
  "torch_seed_steps_per_s",
  "torch_batched_replica_steps_per_s",
  "ratio_to_best_torch",
  "macs_per_replica_step",
  "core_peak_macs_per_s",
  "fraction_of_peak",
  "dispatches_per_step",
  "host_ms_per_step",
  "tiles",
  "end_to_end_s",
] as const;

/** The models `deno task bench` times: ReLU RNNs of one layer, batch 5, 20 steps per chunk. */
export const BENCH_MODELS = [{ name: "echo3", echo: 3, hidden: 4 }, { name: "echo10-h60", echo: 10, hidden: 60 }];

/** Multiply-adds of one replica-step of the bench model named `model` (lib/macs.ts): echo3 6,800, H 60 1,110,000. */
export function benchMacs(model: string): number {
  const m = BENCH_MODELS.find((m) => m.name === model);
  if (!m) throw new Error(`no bench model ${JSON.stringify(model)}`);
  return macsPerReplicaStep({ cell: "rnn", hidden: m.hidden, layers: 1, batch: 5, bptt: 20 });
}

/** The bench header before the best-PyTorch and f32x4-limit columns (before 2026-12-02, issue 16). */
export const BENCH_COLUMNS_SINGLE_SEED = [
  "run_id",
  "impl",
  "backend",
  "threads",
  "processes",
  "model",
  "replicas_per_process",
  "ms_per_step",
  "replica_steps_per_s",
  "ratio_to_torch",
  "end_to_end_s",
] as const;

/**
 * Bench CSVs with `ratio_to_torch` (before 2026-12-02, issue 16): those runs
 * timed only PyTorch's single seed, so their best PyTorch figure was it and
 * `ratio_to_torch` becomes `ratio_to_best_torch` unchanged; the batched
 * PyTorch figure, the per-row single-seed figure (it is in the run's
 * `pytorch` rows), the f32x4 limit and the fraction of it stay empty (not
 * measured then); `macs_per_replica_step` is the model's count on every
 * training-speed row. The fill of that migration (lib/migrations.ts).
 */
export function fillBenchSingleSeed({ ratio_to_torch, ...row }: Record<string, string>): Record<string, string> {
  const speed = row.end_to_end_s === "";
  return {
    ...row,
    torch_seed_steps_per_s: "",
    torch_batched_replica_steps_per_s: "",
    ratio_to_best_torch: ratio_to_torch,
    macs_per_replica_step: speed ? String(benchMacs(row.model)) : "",
    core_peak_macs_per_s: "",
    fraction_of_peak: "",
  };
}

/** The bench header before the WebGPU step's counts (before issue 17, part 4). */
export const BENCH_COLUMNS_BEFORE_STEP_COUNTS = [
  "run_id",
  "impl",
  "backend",
  "threads",
  "processes",
  "model",
  "replicas_per_process",
  "ms_per_step",
  "replica_steps_per_s",
  "torch_seed_steps_per_s",
  "torch_batched_replica_steps_per_s",
  "ratio_to_best_torch",
  "macs_per_replica_step",
  "core_peak_macs_per_s",
  "fraction_of_peak",
  "end_to_end_s",
] as const;

/**
 * Bench CSVs without the WebGPU step's counts (before issue 17, part 4): `dispatches_per_step`,
 * `host_ms_per_step` and `tiles` were not measured then, so they stay empty on every row (they are filled only on
 * webgpu rows of later runs). The fill of that migration (lib/migrations.ts).
 */
export function fillBenchStepCounts(row: Record<string, string>): Record<string, string> {
  return { ...row, dispatches_per_step: "", host_ms_per_step: "", tiles: "" };
}
