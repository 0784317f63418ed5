/**
 * The schema changes of the suite's CSVs, so that a CSV written under an
 * older schema can be brought to the current one (`deno task migrate`): a
 * column added later is filled with the value that was in force when the
 * row was written, never by hand.
 *
 * Migrations, oldest first:
 * 1. Experiment CSVs without `identity_scale` (before 2026-12-02): the column
 *    goes after `cell`, `1` for irnn rows (no published run set
 *    `--identity-scale`, whose default is 1), empty for other cells.
 * 2. Gradient CSVs of `exp:gradients` with only run_id, cell, hidden,
 *    echo_step, ... (before 2026-12-02): the science flags that script
 *    honoured then were its knobs and the notebook's defaults, as the
 *    published run used them (commit 186e790: H 60, echo 10, seeds 1 and 2,
 *    5 epochs): layers 1, bptt 20, batch 5, series 20000, lr 0.001, rmsprop,
 *    clip 0, a new series each epoch, and identity_scale 1 for irnn rows.
 * 3. Experiment CSVs without `kernel_reason` (before 2026-12-02, issue 15):
 *    the column goes after `kernel`, filled with the reason `kernelFor`
 *    gave then for the row's backend, cell and size and the recurrence it
 *    ran (`earlierReasonsFor`'s words where they have changed since, else
 *    `auto`'s where `auto` would have run it). The one guess: an op-level
 *    run on webgpu with H over the WGSL limit is taken for `auto` (WGSL
 *    optimizer), though `--kernel op` (op-level optimizer) gives the same
 *    `kernel` column; no published run is one.
 * 4. Experiment, gradients, capacity shard and parity per-seed CSVs without
 *    `data_generator` (before 2026-12-02, issue 16): every row echolab wrote
 *    until then drew its bits from xoshiro128** streams (lib/rng.ts), named
 *    `LEGACY_DATA_GENERATOR`; a parity row of PyTorch's side gets
 *    `TORCH_DATA_GENERATOR` (the notebook's NumPy draws), as new ones do.
 *    The column goes after `kernel_reason` (experiment), `fixed_series`
 *    (gradients), `grid_id` (shards) and `mode` (parity).
 * 5. Bench CSVs with `ratio_to_torch` (before 2026-12-02, issue 16): see
 *    `fillBenchSingleSeed` in lib/bench_columns.ts.
 * 6. Bench CSVs without `dispatches_per_step`, `host_ms_per_step` and
 *    `tiles` (before issue 17, part 4): see `fillBenchStepCounts` in
 *    lib/bench_columns.ts.
 *
 * A CSV older by several changes takes them in turn.
 */
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { CSV_COLUMNS } from "./experiment.ts";
import { earlierReasonsFor, reasonsFor } from "./kernels/mod.ts";
import type { CellKind } from "./cells.ts";
import {
  BENCH_COLUMNS,
  BENCH_COLUMNS_BEFORE_STEP_COUNTS,
  BENCH_COLUMNS_SINGLE_SEED,
  fillBenchSingleSeed,
  fillBenchStepCounts,
} from "./bench_columns.ts";
import { LEGACY_DATA_GENERATOR } from "./echo_bits.ts";
import { SHARD_COLUMNS } from "./capacity.ts";
import { PER_SEED_COLUMNS, TORCH_DATA_GENERATOR } from "./parity.ts";

type Row = Record<string, string>;

/** One schema change: the header it applies to, the header it makes, and each new cell's value. */
export interface Migration {
  name: string;
  from: readonly string[];
  to: readonly string[];
  fill: (row: Row) => Row;
}

const without = (cols: readonly string[], drop: string[]) => cols.filter((c) => !drop.includes(c));
const irnnScale = (row: Row) => (row.cell === "irnn" ? "1" : "");

/** The reason a row's run recorded for its kernel (see migration 3); empty where none fits. */
export function kernelReasonOf(row: Row): string {
  const q = { backend: row.backend, cell: row.cell as CellKind, hidden: +row.hidden };
  return [...earlierReasonsFor(q), ...reasonsFor(q)].find((r) => r.recurrence === row.kernel)?.reason ?? "";
}

/** The gradients CSV header that experiments/gradients.ts writes. */
export const GRADIENT_COLUMNS = [
  "run_id",
  "cell",
  "identity_scale",
  "hidden",
  "layers",
  "echo_step",
  "bptt",
  "batch",
  "series",
  "lr",
  "optimizer",
  "clip",
  "fixed_series",
  "data_generator",
  "seed",
  "phase",
  "epochs_trained",
  "test_acc",
  "lag",
  "mean_abs_grad",
] as const;

/** The science flags exp:gradients honoured before they were columns, as the published run used them. */
const GRADIENT_FLAGS_THEN: Record<string, string> = {
  layers: "1",
  bptt: "20",
  batch: "5",
  series: "20000",
  lr: "0.001",
  optimizer: "rmsprop",
  clip: "0",
  fixed_series: "false",
};

const legacyData = (row: Row) => ({ ...row, data_generator: LEGACY_DATA_GENERATOR });

/** Every migration the suite knows. */
export const MIGRATIONS: Migration[] = [
  {
    name: "experiment + identity_scale",
    from: without(CSV_COLUMNS, ["identity_scale", "kernel_reason", "data_generator"]),
    to: without(CSV_COLUMNS, ["kernel_reason", "data_generator"]),
    fill: (row) => ({ ...row, identity_scale: irnnScale(row) }),
  },
  {
    name: "gradients + science flags",
    from: without(GRADIENT_COLUMNS, ["identity_scale", "data_generator", ...Object.keys(GRADIENT_FLAGS_THEN)]),
    to: without(GRADIENT_COLUMNS, ["data_generator"]),
    fill: (row) => ({ ...row, identity_scale: irnnScale(row), ...GRADIENT_FLAGS_THEN }),
  },
  {
    name: "experiment + kernel_reason",
    from: without(CSV_COLUMNS, ["kernel_reason", "data_generator"]),
    to: without(CSV_COLUMNS, ["data_generator"]),
    fill: (row) => ({ ...row, kernel_reason: kernelReasonOf(row) }),
  },
  {
    name: "experiment + data_generator",
    from: without(CSV_COLUMNS, ["data_generator"]),
    to: CSV_COLUMNS,
    fill: legacyData,
  },
  {
    name: "gradients + data_generator",
    from: without(GRADIENT_COLUMNS, ["data_generator"]),
    to: GRADIENT_COLUMNS,
    fill: legacyData,
  },
  {
    name: "capacity shard + data_generator",
    from: without(SHARD_COLUMNS, ["data_generator"]),
    to: SHARD_COLUMNS,
    fill: legacyData,
  },
  {
    name: "parity per-seed + data_generator",
    from: without(PER_SEED_COLUMNS, ["data_generator"]),
    to: PER_SEED_COLUMNS,
    fill: (row) => ({ ...row, data_generator: row.side === "torch" ? TORCH_DATA_GENERATOR : LEGACY_DATA_GENERATOR }),
  },
  {
    name: "bench + best PyTorch and f32x4 limit",
    from: BENCH_COLUMNS_SINGLE_SEED,
    to: BENCH_COLUMNS_BEFORE_STEP_COUNTS,
    fill: fillBenchSingleSeed,
  },
  {
    name: "bench + WebGPU step counts",
    from: BENCH_COLUMNS_BEFORE_STEP_COUNTS,
    to: BENCH_COLUMNS,
    fill: fillBenchStepCounts,
  },
];

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((c, i) => c === b[i]);

/** The headers that migrate, in one or more steps, to `columns`. */
export function olderHeaders(columns: readonly string[]): (readonly string[])[] {
  return MIGRATIONS.filter((m) => same(m.to, columns)).flatMap((m) => [m.from, ...olderHeaders(m.from)]);
}

/**
 * The CSV `text` under the current schema, or null when no migration
 * applies (already current, or not a CSV the suite migrates). Migrations
 * apply in turn; `migration` names them, joined with " then ".
 */
export function migrateText(text: string): { text: string; migration: string } | null {
  let rows = parse(text, { relax_column_count: false }) as string[][];
  if (rows.length === 0) return null;
  const applied: string[] = [];
  for (let m = findFrom(rows[0]); m; m = findFrom(rows[0])) {
    const header = rows[0];
    const out = rows.slice(1).map((cells) => {
      const row = m!.fill(Object.fromEntries(header.map((c, i) => [c, cells[i]])));
      return m!.to.map((c) => row[c]);
    });
    rows = [[...m.to], ...out];
    applied.push(m.name);
  }
  return applied.length ? { text: stringify(rows), migration: applied.join(" then ") } : null;
}

function findFrom(header: readonly string[]): Migration | undefined {
  return MIGRATIONS.find((m) => same(m.from, header));
}
