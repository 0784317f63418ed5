/**
 * The experiment CSV writer: a header, then rows appended and flushed to disk
 * one call at a time through lib/durable.ts, with numbers formatted so a
 * spreadsheet reads them as meant. Not the columns (lib/experiment.ts) nor
 * reading CSVs back (lib/readback.ts, lib/schemas.ts).
 */
import { stringify } from "csv-stringify/sync";
import { DurableAppender, type WriteOptions } from "./durable.ts";

/** A cell of a CSV row. */
export type CsvValue = string | number | boolean | null | undefined;

/** Significant digits a non-integer number keeps in a CSV cell. */
export const CSV_SIGNIFICANT_DIGITS = 7;

/**
 * How a CSV cell is written, so a spreadsheet reads it as the number meant:
 * a non-finite number (NaN, Infinity) is an empty cell, never the text
 * `NaN`; an integer is written as is; any other number is rounded to
 * {@linkcode CSV_SIGNIFICANT_DIGITS} significant digits with trailing zeros
 * and float noise dropped (`49.914500000000004` -> `49.9145`,
 * `0.6930588483810425` -> `0.6930588`, `1.23456789e-8` -> `1.234568e-8`),
 * a relative change of at most 5e-7; a boolean is `true`/`false`;
 * null and undefined are empty; a string is kept as given.
 */
export function formatCsvValue(value: CsvValue): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "";
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(CSV_SIGNIFICANT_DIGITS)));
  }
  return value;
}

/**
 * An append-only CSV file: a header row, then rows written whole and flushed
 * to disk one call at a time, so an interrupted run keeps every row it
 * finished. The file is created new: an existing file is never overwritten.
 * Writes go through {@linkcode DurableAppender}: when one fails (a full disk)
 * the file is cut back to its last whole row and a one-line
 * `WriteError` (lib/durable.ts) says how many whole rows (after the header) it holds.
 */
export class CsvLog {
  readonly path: string;
  readonly columns: readonly string[];
  private readonly file: DurableAppender;

  private constructor(path: string, columns: readonly string[], file: DurableAppender) {
    this.path = path;
    this.columns = columns;
    this.file = file;
  }

  /**
   * Creates `path` (and its directory) with the header row; fails if it
   * exists. `options.open` lets a test inject a failing writer.
   */
  static create(path: string, columns: readonly string[], options: WriteOptions = {}): CsvLog {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    Deno.mkdirSync(dir, { recursive: true });
    return new CsvLog(path, columns, DurableAppender.create(path, stringify([columns as string[]]), options));
  }

  /** Whole rows after the header written so far. */
  get rows(): number {
    return this.file.rows;
  }

  /**
   * Appends rows, whole, and flushes them to disk; each value goes under the
   * column of its key, written as {@linkcode formatCsvValue} says; missing
   * keys stay empty.
   */
  append(...rows: Record<string, CsvValue>[]): void {
    const text = stringify(rows.map((row) => this.columns.map((c) => formatCsvValue(row[c]))));
    this.file.append(text, rows.length);
  }
}

/** A run id that sorts by time and does not repeat: `20261129-190311-k3x9`. */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-` +
    `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${Math.random().toString(36).slice(2, 6).padEnd(4, "0")}`;
}
