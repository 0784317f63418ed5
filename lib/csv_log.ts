import { stringify } from "csv-stringify/sync";

/** A cell of a CSV row. */
export type CsvValue = string | number | boolean | null | undefined;

/**
 * An append-only CSV file: a header row, then rows written and flushed one
 * call at a time, so an interrupted run keeps every row it finished. The file
 * is created new: an existing file is never overwritten.
 */
export class CsvLog {
  readonly path: string;
  readonly columns: readonly string[];

  private constructor(path: string, columns: readonly string[]) {
    this.path = path;
    this.columns = columns;
  }

  /** Creates `path` (and its directory) with the header row; fails if it exists. */
  static create(path: string, columns: readonly string[]): CsvLog {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(path, stringify([columns as string[]]), { createNew: true });
    return new CsvLog(path, columns);
  }

  /** Appends rows; each value goes under the column of its key, missing keys stay empty. */
  append(...rows: Record<string, CsvValue>[]): void {
    const text = stringify(
      rows.map((row) => this.columns.map((c) => (typeof row[c] === "boolean" ? String(row[c]) : row[c] ?? ""))),
    );
    const file = Deno.openSync(this.path, { append: true });
    try {
      file.writeSync(new TextEncoder().encode(text));
      file.syncSync();
    } finally {
      file.close();
    }
  }
}

/** A run id that sorts by time and does not repeat: `20261129-190311-k3x9`. */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-` +
    `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${Math.random().toString(36).slice(2, 6).padEnd(4, "0")}`;
}
