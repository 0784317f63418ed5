/**
 * The memory-capacity grid: (cell, hidden, echo step) points, split into
 * disjoint shards so that a cluster scheduler can run them independently,
 * and merged back with a check that every shard is there exactly once.
 */
import { DATA_GENERATOR, DATA_GENERATORS } from "./echo_bits.ts";
import { type CellKind, CELLS } from "./models.ts";
import { type CsvSchema, decimal, ReadbackError, readCsv, type Rule } from "./readback.ts";

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
 * tests/experiments/capacity_test.ts compares grouped and single runs).
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

/**
 * A short hash naming a grid, its training settings and the data generator
 * (lib/echo_bits.ts), so shards of different grids or generators never mix.
 */
export function gridId(spec: GridSpec, training: Record<string, unknown>): string {
  const text = JSON.stringify({ ...spec, ...training, data_generator: DATA_GENERATOR });
  let h = 0x811c9dc5;
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** Columns of a shard CSV. */
export const SHARD_COLUMNS = [
  "grid_id",
  "data_generator",
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

/** Each column's check: what it must be, or null when the value is fine. */
const FIELD_CHECKS: Record<(typeof SHARD_COLUMNS)[number], Rule> = {
  grid_id: (v) => (/^[0-9a-f]{8}$/.test(v) ? null : "8 hex digits"),
  data_generator: (v) => (DATA_GENERATORS.includes(v as never) ? null : `one of ${DATA_GENERATORS.join(", ")}`),
  shard: (v, r) => (INT.test(v) && +v >= 1 && +v <= +r.shards ? null : "an integer in 1..shards"),
  shards: (v) => (INT.test(v) && +v >= 1 && +v <= MAX_SHARDS ? null : `an integer in 1..${MAX_SHARDS}`),
  points: (v) => (INT.test(v) ? null : "a whole number"),
  cell: (v) => (CELLS.includes(v as CellKind) ? null : `one of ${CELLS.join(", ")}`),
  hidden: (v) => (INT.test(v) && +v >= 1 && +v <= 4096 ? null : "an integer in 1..4096"),
  echo_step: (v) => (INT.test(v) && +v >= 1 ? null : "a positive integer"),
  seeds: (v) => (INT.test(v) && +v >= 1 && +v <= 4096 ? null : "an integer in 1..4096"),
  successes: (v, r) => (INT.test(v) && +v <= +r.seeds ? null : "an integer in 0..seeds"),
  // The median over seeds that did not diverge: none left (then none succeeded) writes an empty field.
  test_acc_median: (v, r) =>
    (decimal(v) ?? -1) >= 0 && +v <= 100 || (v === "" && r.successes === "0")
      ? null
      : "a number in 0..100 (empty only when no seed succeeded)",
  epochs: (v) => (INT.test(v) && +v >= 1 && +v <= 10_000 ? null : "an integer in 1..10000"),
  bptt: (v) => (INT.test(v) && +v >= 1 ? null : "a positive integer"),
  seconds: (v) => ((decimal(v) ?? -1) >= 0 ? null : "a number >= 0"),
};

/** Columns every row of one grid shares: its id, shard count and training settings. */
const GRID_CONSTANT = ["grid_id", "data_generator", "shards", "seeds", "epochs", "bptt"] as const;

/** A shard CSV as exp:capacity writes it: rows of one shard of one grid, each grid point once. */
export const SHARD_CSV: CsvSchema = {
  kind: "capacity shard CSV",
  columns: SHARD_COLUMNS,
  rules: FIELD_CHECKS,
  key: (r) => `grid point ${r.cell}/${r.hidden}/${r.echo_step}`,
  constant: [...GRID_CONSTANT, "shard", "points"],
  row: (
    r,
  ) => (+r.echo_step <= +r.bptt ? null : `echo_step ${r.echo_step} is past bptt ${r.bptt} (--echo-max <= --bptt)`),
};

/** A merged capacity CSV (deno task merge): the rows of every shard of one grid, shard by shard. */
export const MERGED_CSV: CsvSchema = { ...SHARD_CSV, kind: "merged capacity CSV", constant: GRID_CONSTANT };

/** One shard CSV, read and checked field by field. */
export interface Shard {
  file: string;
  shard: number;
  shards: number;
  grid: string;
  /** The whole grid's size when the file name says it. */
  gridSize?: number;
  rows: ShardRow[];
  /** The line each row is on (the header is line 1). */
  lines: number[];
}

/** Whether `path` is a folder (false when it is anything else or cannot be looked at). */
function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Runs `read`, turning a {@linkcode ReadbackError} into a {@linkcode MergeError} with the same message. */
function asMergeError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ReadbackError) throw new MergeError(err.message);
    throw err;
  }
}

/**
 * Reads one shard CSV as exp:capacity writes it, refusing with the file and
 * line anything else: a folder, FIFO or device, another CSV or not a CSV, a
 * row with a field missing or of the wrong type or range, a last row cut
 * short (no line end), a grid point twice, rows of different shards or grid
 * settings, fewer rows than its `points`.
 */
export function readShard(file: string): Shard {
  const t = asMergeError(() => {
    if (isDirectory(file)) throw new ReadbackError(`${file} is a directory, not a shard CSV`);
    return readCsv(file, SHARD_CSV, 0);
  });
  const rows = t.rows as ShardRow[], lines = t.lines;
  const name = parseShardName(file);
  if (rows.length === 0) {
    if (!name?.grid) {
      throw new MergeError(
        `${file} holds no rows, and its name does not say which shard of which grid it is (an unfinished shard?)`,
      );
    }
    return { file, shard: name.shard, shards: name.shards, grid: name.grid, gridSize: name.gridSize, rows, lines };
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
  return { file, shard: +shard, shards: +shards, grid: grid_id, gridSize: name?.gridSize, rows, lines };
}

/** A row and where it was read. */
interface Located {
  row: ShardRow;
  file: string;
  line: number;
}

/**
 * Checks that the shards, 1..n in order, are the round-robin parts of one
 * grid as {@linkcode gridPoints} orders it: row j of shard i is grid point
 * j * n + i - 1, so interleaving the shards gives back the grid's order,
 * cells x hiddens x echo 1..echoMax. The grid's cells, hidden sizes and
 * echoMax are read off that sequence (the first block of echo steps sets
 * echoMax, the first cell's blocks set the hidden sizes); the first point
 * off it is refused with its file and line, as is a point whose seeds,
 * epochs or bptt differ from the others'.
 */
function checkGrid(shards: { file: string; rows: ShardRow[]; lines: number[] }[]): void {
  const n = shards.length;
  const seq: Located[] = [];
  shards.forEach((s, i) => s.rows.forEach((row, j) => (seq[j * n + i] = { row, file: s.file, line: s.lines[j] })));
  if (seq.length === 0) return;
  const at = (p: Located) => `${p.file}:${p.line}`;
  const first = seq[0];
  for (const p of seq) {
    for (const c of ["seeds", "epochs", "bptt"] as const) {
      if (p.row[c] !== first.row[c]) {
        throw new MergeError(`${at(p)}: ${c} ${p.row[c]} differs from ${first.row[c]} at ${at(first)} (one grid)`);
      }
    }
  }
  const cells: string[] = [], hiddens: string[] = [];
  let echoMax = 0, hiddensKnown = false;
  for (let k = 0; k < seq.length; k++) {
    const r = seq[k].row, prev = k > 0 ? seq[k - 1].row : null;
    if (prev && !echoMax && (r.cell !== prev.cell || r.hidden !== prev.hidden)) echoMax = k;
    const echo = echoMax ? (k % echoMax) + 1 : k + 1;
    let want: { cell: string; hidden: string } | string;
    if (!prev) want = r;
    else if (echo > 1) want = prev;
    else if (!hiddensKnown && r.cell === cells[0]) {
      want = hiddens.includes(r.hidden) ? `a hidden size of ${r.cell} not yet seen` : r;
    } else {
      hiddensKnown = true;
      const b = k / echoMax, hidden = hiddens[b % hiddens.length];
      if (b % hiddens.length) want = { cell: prev.cell, hidden };
      else want = cells.includes(r.cell) ? `a cell not yet seen, at H ${hidden}` : { cell: r.cell, hidden };
    }
    const wanted = typeof want === "string" ? want : `${want.cell} H ${want.hidden} echo ${echo}`;
    if (typeof want === "string" || r.cell !== want.cell || r.hidden !== want.hidden || +r.echo_step !== echo) {
      throw new MergeError(
        `${at(seq[k])}: ${r.cell} H ${r.hidden} echo ${r.echo_step} is off its grid: ` +
          `the points before it in grid order (cell, hidden, echo 1..max) call for ${wanted} here`,
      );
    }
    if (!cells.includes(r.cell)) cells.push(r.cell);
    if (!hiddensKnown && !hiddens.includes(r.hidden)) hiddens.push(r.hidden);
  }
  echoMax ||= seq.length;
  const blocks = seq.length / echoMax;
  if (!Number.isInteger(blocks) || blocks % hiddens.length !== 0) {
    const last = seq[seq.length - 1];
    throw new MergeError(
      `${at(last)}: the grid ends early: ${seq.length} points are not cells ${cells.join(", ")} x hidden ${
        hiddens.join(", ")
      } x echo 1..${echoMax}`,
    );
  }
}

/**
 * Reads shard CSVs and returns their rows, shard by shard, refusing a set
 * that is not exactly shards 1..n of one grid (missing, duplicated, mixed
 * grids, a shard that does not hold the points it should, or points that
 * are not the grid's, in its order). A shard with no points (more shards
 * than points) has only its header and is required like any other.
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
  const seen = new Map<string, string>();
  for (const s of shards) {
    s.rows.forEach((r, j) => {
      const key = `${r.cell}/${r.hidden}/${r.echo_step}`, here = `${s.file}:${s.lines[j]}`;
      if (seen.has(key)) throw new MergeError(`${here}: grid point ${key} appears twice (also at ${seen.get(key)})`);
      seen.set(key, here);
    });
  }
  checkGrid(shards);
  return rows;
}

/**
 * Reads a merged capacity CSV (what `deno task merge` writes) with the checks
 * of a merge: every field, one grid's settings, each shard's rows complete
 * and in order, the points exactly the grid's. Refusals are
 * {@linkcode ReadbackError}s naming the file and line.
 */
export function readMerged(file: string): ShardRow[] {
  const t = readCsv(file, MERGED_CSV) as unknown as { rows: ShardRow[]; lines: number[] };
  const shards = +t.rows[0].shards;
  const parts = Array.from({ length: shards }, () => ({ file, rows: [] as ShardRow[], lines: [] as number[] }));
  let last = 1;
  t.rows.forEach((r, i) => {
    if (+r.shard < last) throw new ReadbackError(`${file}:${t.lines[i]}: shard ${r.shard} after shard ${last}`);
    last = +r.shard;
    parts[last - 1].rows.push(r);
    parts[last - 1].lines.push(t.lines[i]);
  });
  const absent = parts.findIndex((p, i) => p.rows.length === 0 && shardSize(t.rows.length, i + 1, shards) > 0);
  if (absent >= 0) {
    throw new ReadbackError(`${file}: holds no rows of shard ${absent + 1}/${shards} (merged without it?)`);
  }
  for (const [i, p] of parts.entries()) {
    const want = shardSize(t.rows.length, i + 1, shards);
    if (p.rows.length !== want || p.rows.some((r) => +r.points !== want)) {
      throw new ReadbackError(
        `${file}: shard ${
          i + 1
        }/${shards} has ${p.rows.length} rows; over a grid of ${t.rows.length} points it holds ${want}`,
      );
    }
  }
  try {
    checkGrid(parts);
  } catch (err) {
    if (err instanceof MergeError) throw new ReadbackError(err.message);
    throw err;
  }
  return t.rows;
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
