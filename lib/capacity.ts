/**
 * The memory-capacity grid: (cell, hidden, echo step) points, split into
 * disjoint shards so that a cluster scheduler can run them independently,
 * and merged back with a check that every shard is there exactly once.
 */
import { type CellKind, CELLS } from "./models.ts";

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

/**
 * The points of a shard as models to train. Points of the same cell and
 * hidden size differ only in their data (the echo step), so up to `size`
 * consecutive ones train together as one model, each point with its own
 * replicas: one model of S x size replicas instead of `size` models of S,
 * which a GPU runs in about the time of one. Training is per replica, so a
 * point's result does not depend on its group (bit for bit on cpu and wasm;
 * tests/capacity_test.ts compares grouped and single runs).
 */
export function modelGroups(points: GridPoint[], size: number): GridPoint[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`group size must be a positive integer, got ${size}`);
  const groups: GridPoint[][] = [];
  for (const p of points) {
    const last = groups.at(-1);
    if (last && last.length < size && last[0].cell === p.cell && last[0].hidden === p.hidden) last.push(p);
    else groups.push([p]);
  }
  return groups;
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

/** Largest `n` of `--shard i/n`. */
export const MAX_SHARDS = 10_000;

/**
 * The file name of a shard CSV. It carries the grid id and the grid's size,
 * so a shard with no grid points (more shards than points) is still a
 * shard of a known grid: it has only a header row, and merge requires it.
 */
export function shardFileName(i: number, n: number, grid: string, gridSize: number, runId: string): string {
  return `shard-${i}-of-${n}-grid-${grid}-${gridSize}pts-${runId}.csv`;
}

/** What a shard's file name says; grid and size only in names written by {@linkcode shardFileName}. */
export function parseShardName(
  path: string,
): { shard: number; shards: number; grid?: string; gridSize?: number } | null {
  const m = /^shard-(\d{1,5})-of-(\d{1,5})-(?:grid-([0-9a-f]{8})-(\d{1,9})pts-)?/.exec(path.split("/").pop() ?? "");
  if (!m) return null;
  return {
    shard: Number(m[1]),
    shards: Number(m[2]),
    grid: m[3],
    gridSize: m[4] === undefined ? undefined : Number(m[4]),
  };
}

/** Points shard i of n holds in a grid of `size` points (round-robin, see {@linkcode shardPoints}). */
export function shardSize(size: number, i: number, n: number): number {
  return i > size ? 0 : Math.floor((size - i) / n) + 1;
}

const INT = /^(0|[1-9]\d{0,8})$/;
const NUM = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** Each column's check: an error text, or null when the value is fine. */
const FIELD_CHECKS: Record<(typeof SHARD_COLUMNS)[number], (v: string, row: ShardRow) => string | null> = {
  grid_id: (v) => (/^[0-9a-f]{8}$/.test(v) ? null : "8 hex digits"),
  shard: (v, r) => (INT.test(v) && +v >= 1 && +v <= +r.shards ? null : "an integer in 1..shards"),
  shards: (v) => (INT.test(v) && +v >= 1 && +v <= MAX_SHARDS ? null : `an integer in 1..${MAX_SHARDS}`),
  points: (v) => (INT.test(v) ? null : "a whole number"),
  cell: (v) => (CELLS.includes(v as CellKind) ? null : `one of ${CELLS.join(", ")}`),
  hidden: (v) => (INT.test(v) && +v >= 1 && +v <= 4096 ? null : "an integer in 1..4096"),
  echo_step: (v) => (INT.test(v) && +v >= 1 ? null : "a positive integer"),
  seeds: (v) => (INT.test(v) && +v >= 1 && +v <= 4096 ? null : "an integer in 1..4096"),
  successes: (v, r) => (INT.test(v) && +v <= +r.seeds ? null : "an integer in 0..seeds"),
  test_acc_median: (v, r) =>
    (NUM.test(v) && +v >= 0 && +v <= 100) || (v === "NaN" && r.successes === "0") ? null : "a number in 0..100",
  epochs: (v) => (INT.test(v) && +v >= 1 ? null : "a positive integer"),
  bptt: (v) => (INT.test(v) && +v >= 1 ? null : "a positive integer"),
  seconds: (v) => (NUM.test(v) && +v >= 0 ? null : "a number >= 0"),
};

/** One shard CSV, read and checked field by field. */
export interface Shard {
  file: string;
  shard: number;
  shards: number;
  grid: string;
  /** The whole grid's size when the file name says it. */
  gridSize?: number;
  rows: ShardRow[];
}

/**
 * Reads one shard CSV as exp:capacity writes it, refusing with the file and
 * line anything else: a folder, another CSV or not a CSV, a row with a
 * field missing or of the wrong type or range, a last row cut short (no
 * line end), rows of different shards, fewer rows than its `points`.
 */
export function readShard(file: string): Shard {
  let text: string;
  try {
    if (Deno.statSync(file).isDirectory) throw new MergeError(`${file} is a directory, not a shard CSV`);
    text = new TextDecoder("utf-8", { fatal: true }).decode(Deno.readFileSync(file));
  } catch (err) {
    if (err instanceof MergeError) throw err;
    if (err instanceof TypeError) throw new MergeError(`${file}: not a text file, not a shard CSV`);
    throw new MergeError(`${file}: ${(err as Error).message.split("\n")[0]}`);
  }
  const lines = text.split("\n");
  const header = SHARD_COLUMNS.join(",");
  if (lines[0].replace(/\r$/, "") !== header) {
    throw new MergeError(`${file}:1: not a capacity shard CSV (its first line is not the header ${header})`);
  }
  if (lines[lines.length - 1] !== "") {
    throw new MergeError(`${file}:${lines.length}: the last row is cut short (no line end; an interrupted write?)`);
  }
  const rows: ShardRow[] = [];
  for (let k = 1; k < lines.length - 1; k++) {
    const fields = lines[k].replace(/\r$/, "").split(",");
    if (fields.length !== SHARD_COLUMNS.length) {
      throw new MergeError(
        `${file}:${k + 1}: ${fields.length} fields, expected ${SHARD_COLUMNS.length} (a row cut mid-line?)`,
      );
    }
    const row = Object.fromEntries(SHARD_COLUMNS.map((c, j) => [c, fields[j]])) as ShardRow;
    for (const c of SHARD_COLUMNS) {
      const want = FIELD_CHECKS[c](row[c], row);
      if (want) throw new MergeError(`${file}:${k + 1}: ${c} must be ${want}, got "${row[c]}"`);
    }
    const first = rows[0];
    if (first && (["grid_id", "shard", "shards", "points"] as const).some((c) => row[c] !== first[c])) {
      throw new MergeError(`${file}:${k + 1}: mixes rows of different shards`);
    }
    rows.push(row);
  }
  const name = parseShardName(file);
  if (rows.length === 0) {
    if (!name?.grid) {
      throw new MergeError(
        `${file} holds no rows, and its name does not say which shard of which grid it is (an unfinished shard?)`,
      );
    }
    return { file, shard: name.shard, shards: name.shards, grid: name.grid, gridSize: name.gridSize, rows };
  }
  const { grid_id, shard, shards, points } = rows[0];
  if (rows.length !== Number(points)) {
    throw new MergeError(`shard ${shard}/${shards} in ${file} is incomplete: ${rows.length} of ${points} grid points`);
  }
  if (name?.grid && (name.grid !== grid_id || name.shard !== +shard || name.shards !== +shards)) {
    throw new MergeError(
      `${file}: its name says shard ${name.shard}/${name.shards} of grid ${name.grid}, its rows ` +
        `${shard}/${shards} of grid ${grid_id}`,
    );
  }
  return { file, shard: +shard, shards: +shards, grid: grid_id, gridSize: name?.gridSize, rows };
}

/**
 * Reads shard CSVs and returns their rows, shard by shard, refusing a set
 * that is not exactly shards 1..n of one grid (missing, duplicated, mixed
 * grids, or a shard that does not hold the points it should). A shard with
 * no points (more shards than points) has only its header and is required
 * like any other.
 */
export function mergeShards(files: string[]): ShardRow[] {
  if (files.length === 0) throw new MergeError("no shard files given");
  const byShard = new Map<number, Shard>();
  let grid = "", total = 0, size: number | undefined;
  for (const file of files) {
    const s = readShard(file);
    if (grid && s.grid !== grid) throw new MergeError(`${file} is from grid ${s.grid}, the others from ${grid}`);
    if (total && s.shards !== total) {
      throw new MergeError(`${file} is one of ${s.shards} shards, the others of ${total}`);
    }
    if (size !== undefined && s.gridSize !== undefined && s.gridSize !== size) {
      throw new MergeError(`${file} names a grid of ${s.gridSize} points, the others ${size}`);
    }
    grid = s.grid;
    total = s.shards;
    size ??= s.gridSize;
    const twin = byShard.get(s.shard);
    if (twin) throw new MergeError(`shard ${s.shard}/${total} appears twice: ${twin.file} and ${file}`);
    byShard.set(s.shard, s);
  }
  const missing = Array.from({ length: total }, (_, k) => k + 1).filter((i) => !byShard.has(i));
  if (missing.length) throw new MergeError(`missing shard(s) ${missing.join(", ")} of ${total}`);
  const shards = [...byShard.values()].sort((a, b) => a.shard - b.shard);
  const rows = shards.flatMap((s) => s.rows);
  size ??= rows.length;
  for (const s of shards) {
    const want = shardSize(size, s.shard, total);
    if (s.rows.length !== want) {
      throw new MergeError(
        `shard ${s.shard}/${total} in ${s.file} holds ${s.rows.length} grid points; ` +
          `shard ${s.shard} of ${total} over a grid of ${size} points holds ${want}`,
      );
    }
  }
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
