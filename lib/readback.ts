/**
 * Reading back the files this suite writes (experiment, shard, parity and
 * bench CSVs, the manifest), so that merge and report publish nothing a run
 * could not have produced. One module for every reader:
 *
 * - {@linkcode readBoundedText}: a regular file only (a folder, FIFO or
 *   device such as /dev/zero is refused before it is opened), at most
 *   {@linkcode MAX_READ_BYTES}, UTF-8.
 * - {@linkcode parseCsv} / {@linkcode readCsv}: the exact header of a
 *   {@linkcode CsvSchema}, every row ending in a line end, every field
 *   checked by its column's {@linkcode Rule}, rows that repeat a key or
 *   change a per-file constant refused.
 *
 * Every refusal is a {@linkcode ReadbackError}: one line naming the file and,
 * where there is one, the line as an editor numbers it (the header is line 1).
 * It is a {@linkcode UsageError}, so a script that reads inside `parseOrExit`
 * exits 2 with it.
 */
import { parse } from "csv-parse/sync";
import { UsageError } from "./cli.ts";

/** A file read back is not what its writer writes: one line naming the file (and line). */
export class ReadbackError extends UsageError {}

/** The most bytes any reader takes from one file: far above any CSV a run writes, far below memory. */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

const MIB = 1024 * 1024;

/** "a shard CSV", "an experiment CSV". */
const a = (kind: string) => `${/^[aeiou]/i.test(kind) ? "an" : "a"} ${kind}`;

/** An OS error as a few words: "no such file", or the first line of its message. */
function osReason(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  return String(err instanceof Error ? err.message : err).split("\n")[0];
}

/**
 * The text of a regular file of at most `cap` bytes. A folder, FIFO, socket
 * or device is refused from its `stat`, before it is opened (opening a FIFO
 * would wait for a writer, and /dev/zero never ends); a file that is, or
 * grows, past the cap is refused after reading at most `cap + 1` bytes.
 * `kind` says what the file should have been ("capacity shard CSV").
 */
export function readBoundedText(path: string, kind: string, cap = MAX_READ_BYTES): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    throw new ReadbackError(`${path}: ${osReason(err)}`);
  }
  if (info.isDirectory) throw new ReadbackError(`${path} is a directory, not ${a(kind)}`);
  if (!info.isFile) {
    throw new ReadbackError(`${path} is not a regular file (a device, FIFO or socket?), not ${a(kind)}`);
  }
  const tooBig = () =>
    new ReadbackError(`${path} is larger than the ${+(cap / MIB).toPrecision(3)} MiB read back from any file`);
  if (info.size > cap) throw tooBig();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw new ReadbackError(`${path}: ${osReason(err)}`);
  }
  try {
    while (total <= cap) {
      const buf = new Uint8Array(Math.min(1 << 20, cap + 1 - total));
      const n = file.readSync(buf);
      if (n === null || n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
  } catch (err) {
    throw new ReadbackError(`${path}: ${osReason(err)}`);
  } finally {
    file.close();
  }
  if (total > cap) throw tooBig();
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ReadbackError(`${path}: not a text file (not UTF-8), not ${a(kind)}`);
  }
}

/** One row as read back: every field a string, keyed by its column. */
export type CsvRow = Record<string, string>;

/** A column's check: null when `value` is fine, else what it must be ("an integer in 1..4096"). */
export type Rule = (value: string, row: CsvRow) => string | null;

/** A problem found in a whole table: a message and, where it has one, the line it is about. */
export interface TableProblem {
  line?: number;
  message: string;
}

/** What a CSV of one kind holds. */
export interface CsvSchema {
  /** What the file is, for messages: "experiment CSV". */
  kind: string;
  /** The header, exactly, in order. */
  columns: readonly string[];
  /** Headers of older versions that `deno task migrate` brings to `columns`: refused with that advice. */
  older?: readonly (readonly string[])[];
  /** A rule for every column. */
  rules: Readonly<Record<string, Rule>>;
  /** What names a row, in words ("seed 3, train epoch 2"): a second row with the same is refused. */
  key?: (row: CsvRow) => string;
  /** Columns that hold one value in every row of one file (one run, one shard). */
  constant?: readonly string[];
  /** A check of one row beyond its fields: null, or the problem ("phase test leaves train_acc empty"). */
  row?: (row: CsvRow) => string | null;
}

/** A CSV read back: its rows, and the line each starts on (the header is line 1). */
export interface CsvTable {
  file: string;
  rows: CsvRow[];
  lines: number[];
}

/** A value as a message shows it: quoted, escaped to one line, cut to 40 characters. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

/** How a header differs from the expected one, in words. */
function headerDifference(line: string, columns: readonly string[]): string {
  const got = line.split(",");
  const i = columns.findIndex((c, k) => got[k] !== c);
  if (i < 0) return `header has an extra column ${columns.length + 1}, ${shown(got[columns.length])}`;
  if (i >= got.length) return `header ends after column ${got.length}, expected ${shown(columns[i])} next`;
  return `header column ${i + 1} is ${shown(got[i])}, expected ${shown(columns[i])}`;
}

/**
 * Parses and checks CSV text as `schema` says, naming `file` in errors:
 * the exact header on line 1 (an older version's is refused with the advice
 * to migrate it), a line end after the last row (a row without
 * one was cut by an interrupted write), as many fields in every row as
 * columns, each field passing its rule, then `schema.row`, keys and
 * per-file constants; at least `minRows` rows.
 */
export function parseCsv(text: string, file: string, schema: CsvSchema, minRows = 1): CsvTable {
  const kind = schema.kind;
  if (text === "") throw new ReadbackError(`${file}: empty, not ${a(kind)} (no header line)`);
  const first = text.slice(0, text.indexOf("\n") < 0 ? text.length : text.indexOf("\n")).replace(/\r$/, "");
  const columns = schema.columns;
  if (first !== columns.join(",")) {
    const why = schema.older?.some((h) => h.join(",") === first)
      ? `${a(kind)} written before its current columns: deno task migrate brings it up to date`
      : `not ${a(kind)} (${headerDifference(first, columns)})`;
    throw new ReadbackError(`${file}:1: ${why}`);
  }
  if (!text.endsWith("\n")) {
    throw new ReadbackError(
      `${file}:${text.split("\n").length}: the last row is cut short (no line end; an interrupted write?)`,
    );
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, relax_column_count: true }) as unknown as typeof records;
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new ReadbackError(
      `${file}${line ? `:${line}` : ""}: not valid CSV (${String((err as Error).message).split("\n")[0]})`,
    );
  }
  const rows: CsvRow[] = [], lines: number[] = [];
  const keys = new Map<string, number>();
  const n = columns.length;
  for (let k = 1; k < records.length; k++) {
    const { record } = records[k];
    const line = records[k - 1].info.lines + 1;
    const at = `${file}:${line}`;
    if (record.length !== n) {
      throw new ReadbackError(`${at}: ${record.length} fields, expected ${n} (a row cut mid-line?)`);
    }
    const row = Object.fromEntries(columns.map((c, j) => [c, record[j]])) as CsvRow;
    for (const c of columns) {
      const rule = schema.rules[c];
      if (!rule) throw new Error(`the ${kind} schema has no rule for its column ${c}`);
      const want = rule(row[c], row);
      if (want) throw new ReadbackError(`${at}: ${c} must be ${want}, got ${shown(row[c])}`);
    }
    const bad = schema.row?.(row);
    if (bad) throw new ReadbackError(`${at}: ${bad}`);
    if (schema.key) {
      const key = schema.key(row);
      const twin = keys.get(key);
      if (twin !== undefined) throw new ReadbackError(`${at}: ${key} again (first on line ${twin}): a repeated row`);
      keys.set(key, line);
    }
    for (const c of schema.constant ?? []) {
      if (rows.length && row[c] !== rows[0][c]) {
        throw new ReadbackError(
          `${at}: ${c} ${shown(row[c])} differs from ${shown(rows[0][c])} on line ${lines[0]} ` +
            `(every row of ${a(kind)} has the same ${c})`,
        );
      }
    }
    rows.push(row);
    lines.push(line);
  }
  if (rows.length < minRows) {
    throw new ReadbackError(`${file}: holds no rows, only its header (not a finished ${kind})`);
  }
  return { file, rows, lines };
}

/** {@linkcode readBoundedText} then {@linkcode parseCsv}. */
export function readCsv(path: string, schema: CsvSchema, minRows = 1): CsvTable {
  return parseCsv(readBoundedText(path, schema.kind), path, schema, minRows);
}

/** Throws the first problem of a table, naming its file (and line). */
export function refuse(table: CsvTable, problem: TableProblem | null): void {
  if (!problem) return;
  throw new ReadbackError(`${table.file}${problem.line ? `:${problem.line}` : ""}: ${problem.message}`);
}

// ---------------------------------------------------------------- rules

const INT = /^(0|[1-9]\d{0,15})$/;
const NUM = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** The number a field spells in plain decimal or exponent notation, or null ("NaN", "Infinity", "0x1", " 1"). */
export function decimal(value: string): number | null {
  if (!NUM.test(value)) return null;
  const x = Number(value);
  return Number.isFinite(x) ? x : null;
}

/** A whole number in min..max, written without sign, spaces or leading zeros. */
export function intIn(min: number, max: number): Rule {
  return (v) => (INT.test(v) && +v >= min && +v <= max ? null : `an integer in ${min}..${max}`);
}

/** A finite number in [min, max] (`(min` with `minOpen`). */
export function numberIn(min: number, max: number, minOpen = false): Rule {
  const want = `a number in ${minOpen ? "(" : "["}${min}, ${max}]`;
  return (v) => {
    const x = decimal(v);
    return x !== null && x <= max && (minOpen ? x > min : x >= min) ? null : want;
  };
}

/** A finite number >= 0 (a time, a loss, a gradient). */
export const nonNegative: Rule = (v) => ((decimal(v) ?? -1) >= 0 ? null : "a finite number >= 0");

/** A finite number > 0. */
export const positive: Rule = (v) => ((decimal(v) ?? 0) > 0 ? null : "a finite number > 0");

/** One of `values`. */
export function oneOfList(values: readonly string[]): Rule {
  return (v) => (values.includes(v) ? null : `one of ${values.join(", ")}`);
}

/** Text matching `re`, described as `what`. */
export function matching(re: RegExp, what: string): Rule {
  return (v) => (re.test(v) ? null : what);
}

/** `rule`, or empty where `emptyWhen(row)` says the writer leaves it empty; then it must be empty. */
export function emptyWhen(rule: Rule, emptyWhen: (row: CsvRow) => boolean, why: string): Rule {
  return (v, row) => {
    if (emptyWhen(row)) return v === "" ? null : `empty (${why})`;
    return rule(v, row);
  };
}

/** `rule`, or empty. */
export function orEmpty(rule: Rule): Rule {
  return (v, row) => {
    if (v === "") return null;
    const want = rule(v, row);
    return want ? `${want} or empty` : null;
  };
}

/** A run id as {@linkcode newRunId} writes it: `20261129-190311-k3x9`. */
export const runIdRule: Rule = matching(/^\d{8}-\d{6}-[0-9a-z]{4}$/, "a run id such as 20261129-190311-k3x9");
