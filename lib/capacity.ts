/**
 * The memory-capacity grid: (cell, hidden, echo step) points, split into
 * disjoint shards so that a cluster scheduler can run them independently,
 * and merged back with a check that every shard is there exactly once.
 */
import { parse } from "csv-parse/sync";
import type { CellKind } from "./models.ts";

/** One point of the grid. */
export interface GridPoint {
  cell: CellKind;
  hidden: number;
  echoStep: number;
}

/** What spans the grid. */
export interface GridSpec {
  cells: CellKind[];
  hiddens: number[];
  echoMax: number;
}

/** Every point, in a fixed order: cell, then hidden, then echo step 1..echoMax. */
export function gridPoints(spec: GridSpec): GridPoint[] {
  return spec.cells.flatMap((cell) =>
    spec.hiddens.flatMap((hidden) =>
      Array.from({ length: spec.echoMax }, (_, k) => ({ cell, hidden, echoStep: k + 1 }))
    )
  );
}

/**
 * Shard `i` of `n` (1-based): every n-th point starting at the i-th, so each
 * shard gets a similar mix of cheap and expensive points.
 */
export function shardPoints(points: GridPoint[], i: number, n: number): GridPoint[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 1 || i > n) {
    throw new RangeError(`shard must be i/n with 1 <= i <= n, got ${i}/${n}`);
  }
  return points.filter((_, k) => k % n === i - 1);
}

/** A short hash naming a grid and its training settings, so shards of different grids never mix. */
export function gridId(spec: GridSpec, training: Record<string, unknown>): string {
  const text = JSON.stringify({ ...spec, ...training });
  let h = 0x811c9dc5;
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** Columns of a shard CSV. */
export const SHARD_COLUMNS = [
  "grid_id",
  "shard",
  "shards",
  "points",
  "cell",
  "hidden",
  "echo_step",
  "seeds",
  "successes",
  "test_acc_median",
  "epochs",
  "bptt",
  "seconds",
] as const;

export type ShardRow = Record<(typeof SHARD_COLUMNS)[number], string>;

/** A merge that cannot be trusted: missing or duplicated shards, or shards of different grids. */
export class MergeError extends Error {}

/**
 * Reads shard CSVs and returns their rows, refusing a set that is not
 * exactly shards 1..n of one grid (missing, duplicated, mixed grids, or a
 * shard that does not hold the points it should).
 */
export function mergeShards(files: string[]): ShardRow[] {
  if (files.length === 0) throw new MergeError("no shard files given");
  const byShard = new Map<number, string>();
  const rows: ShardRow[] = [];
  let grid = "", total = 0;
  for (const file of files) {
    const own = parse(Deno.readTextFileSync(file), { columns: true }) as ShardRow[];
    if (own.length === 0) throw new MergeError(`${file} holds no rows (an unfinished shard?)`);
    const { grid_id, shard, shards, points } = own[0];
    if (own.some((r) => r.grid_id !== grid_id || r.shard !== shard || r.shards !== shards || r.points !== points)) {
      throw new MergeError(`${file} mixes rows of different shards`);
    }
    const [i, n] = [Number(shard), Number(shards)];
    if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 1 || i > n) {
      throw new MergeError(`${file} names shard "${shard}/${shards}", not i/n with 1 <= i <= n`);
    }
    if (own.length !== Number(points)) {
      throw new MergeError(`shard ${i}/${n} in ${file} is incomplete: ${own.length} of ${points} grid points`);
    }
    if (grid && grid_id !== grid) throw new MergeError(`${file} is from grid ${grid_id}, the others from ${grid}`);
    if (total && n !== total) throw new MergeError(`${file} is one of ${n} shards, the others of ${total}`);
    grid = grid_id;
    total = n;
    if (byShard.has(i)) throw new MergeError(`shard ${i}/${total} appears twice: ${byShard.get(i)} and ${file}`);
    byShard.set(i, file);
    rows.push(...own);
  }
  const missing = Array.from({ length: total }, (_, k) => k + 1).filter((i) => !byShard.has(i));
  if (missing.length) throw new MergeError(`missing shard(s) ${missing.join(", ")} of ${total}`);
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.cell}/${r.hidden}/${r.echo_step}`;
    if (seen.has(key)) throw new MergeError(`grid point ${key} appears twice`);
    seen.add(key);
  }
  return rows;
}

/**
 * The capacity of each (cell, hidden): the largest echo step that at least
 * half of the seeds learnt to >= 99% test accuracy, 0 if none.
 */
export function capacities(rows: ShardRow[]): { cell: string; hidden: number; capacity: number }[] {
  const out = new Map<string, { cell: string; hidden: number; capacity: number }>();
  for (const r of rows) {
    const key = `${r.cell}/${r.hidden}`;
    const entry = out.get(key) ?? { cell: r.cell, hidden: Number(r.hidden), capacity: 0 };
    if (2 * Number(r.successes) >= Number(r.seeds)) entry.capacity = Math.max(entry.capacity, Number(r.echo_step));
    out.set(key, entry);
  }
  return [...out.values()];
}
