/**
 * Reads every CSV the manifest names and checks it before anything is
 * computed or written: each against its schema (file and line in the
 * refusal), the set of exp:memory runs, the merged capacity CSV against its
 * shards. Not for checking the manifest itself (manifest.ts) or computing
 * anything from the rows (the section modules).
 */
import { MergeError, mergeShards, readMerged, readShard, type ShardRow } from "../capacity.ts";
import {
  type CsvSchema,
  type CsvTable,
  ReadbackError,
  readCsv as readChecked,
  refuse,
  type TableProblem,
} from "../readback.ts";
import { BENCH_CSV, completeGradients, EXPERIMENT_CSV, finishedRun, GRADIENTS_CSV } from "../schemas.ts";
import { pairedSummary, PARITY_SUMMARY_CSV } from "../parity.ts";
import { MEMORY_ORDER } from "../memory_configs.ts";
import type { Row } from "../summary.ts";
import { ReportError } from "./error.ts";
import { type Manifest, NOTEBOOK_ORDER } from "./manifest.ts";

/** The merged capacity CSV's rows and each shard's rows. */
export interface CapacityRuns {
  rows: ShardRow[];
  shards: ShardRow[][];
}

/** Every run the manifest names, read and checked. */
export interface ReportInputs {
  /** Each notebook experiment's run, by its name in {@linkcode NOTEBOOK_ORDER}. */
  notebook: Record<string, Row[]>;
  /** One run of each exp:memory configuration, in the manifest's order. */
  memory: Row[][];
  kernelComparison: Row[];
  gradients: Row[];
  capacity: CapacityRuns;
  /** The rows of exp:parity's summary.csv. */
  parity: Row[];
  bench: Row[];
  echo3Default: Row[];
}

/** Runs `read`, turning a refusal of a file read back into a {@linkcode ReportError} with its one line. */
function checked<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ReadbackError || err instanceof MergeError) throw new ReportError(err.message);
    throw err;
  }
}

/**
 * A CSV the manifest names, every row checked against `schema` (at least one
 * row), then against `whole` (a check across rows), or a {@linkcode ReportError}
 * naming the file and line.
 */
export function readCsv(path: string, schema: CsvSchema, whole?: (t: CsvTable) => TableProblem | null): Row[] {
  return checked(() => {
    const t = readChecked(path, schema);
    if (whole) refuse(t, whole(t));
    return t.rows;
  });
}

/** A finished run's experiment CSV: every seed's epochs and its test row. */
export const readRun = (path: string): Row[] => readCsv(path, EXPERIMENT_CSV, finishedRun);

/**
 * The merged capacity CSV, checked as merge checks shards, and the rows of
 * each shard: the merged CSV must hold exactly the merge of the shards.
 */
export function readCapacity(merged: string, shardFiles: string[]): CapacityRuns {
  return checked(() => {
    const rows = readMerged(merged);
    const line = (r: ShardRow) => JSON.stringify(Object.values(r));
    let fromShards: string[];
    try {
      fromShards = mergeShards(shardFiles).map(line);
    } catch (err) {
      // A refusal about the set (a shard missing) names no file: say which list it is.
      const message = (err as Error).message;
      if (!(err instanceof MergeError) || shardFiles.some((f) => message.includes(f))) throw err;
      throw new ReportError(`the manifest's capacityShards (${shardFiles.join(", ")}): ${message}`);
    }
    const k = rows.findIndex((r, i) => line(r) !== fromShards[i]);
    if (k >= 0 || rows.length !== fromShards.length) {
      throw new ReportError(
        `${merged}${k >= 0 ? `:${k + 2}` : ""}: not the merge of the manifest's capacityShards ` +
          `(${shardFiles.join(", ")}); rerun deno task merge`,
      );
    }
    return { rows, shards: shardFiles.map((f) => readShard(f).rows) };
  });
}

/**
 * Every CSV the manifest names, read and checked before anything is rendered
 * or written: a bad one stops the report at once with a {@linkcode ReportError}
 * naming its file and line. `manifestPath` names the manifest in a refusal of
 * the set of exp:memory runs (one of each configuration).
 */
export function readInputs(manifest: Manifest, manifestPath: string): ReportInputs {
  const R = (p: string) => `results/${p}`;
  const memory = manifest.memory.map((p) => readRun(R(p)));
  // The findings speak of every exp:memory configuration, each from one run.
  const configs = memory.map((rows) => rows[0]?.experiment);
  const missing = MEMORY_ORDER.find((c) => !configs.includes(c));
  const extra = configs.find((c, i) => !MEMORY_ORDER.includes(c) || configs.indexOf(c) !== i);
  if (missing !== undefined || extra !== undefined) {
    throw new ReportError(
      `--manifest ${manifestPath}: memory must name one run of each of ${MEMORY_ORDER.join(", ")}: ` +
        (missing !== undefined
          ? `${missing} has none`
          : `${extra} is ${MEMORY_ORDER.includes(extra!) ? "named twice" : "not one"}`),
    );
  }
  // The findings compare the configurations with each other and with the kernel comparison's run: one data
  // generator for all of them, or the comparison is of data, not models.
  const kernelComparison = readRun(R(manifest.kernelComparison));
  const generators = [...new Set([...memory, kernelComparison].map((rows) => rows[0]?.data_generator))];
  if (generators.length > 1) {
    throw new ReportError(
      `--manifest ${manifestPath}: memory and kernelComparison must come from one data generator, ` +
        `got ${generators.join(" and ")}: rerun the older ones`,
    );
  }
  return {
    notebook: Object.fromEntries(NOTEBOOK_ORDER.map((name) => [name, readRun(R(manifest.notebook[name]))])),
    memory,
    kernelComparison,
    gradients: readCsv(R(manifest.gradients), GRADIENTS_CSV, completeGradients),
    capacity: readCapacity(R(manifest.capacity), manifest.capacityShards.map(R)),
    parity: readCsv(R(`${manifest.parity}/summary.csv`), PARITY_SUMMARY_CSV, pairedSummary),
    bench: readCsv(R(manifest.bench), BENCH_CSV),
    echo3Default: readRun(R(manifest.echo3Default)),
  };
}
