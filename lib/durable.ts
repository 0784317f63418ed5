/**
 * The one place the suite writes files, so that every write is whole or
 * absent (README, When things go wrong):
 *
 * - {@linkcode DurableAppender}: an append-only file (a CSV log) that writes
 *   whole rows, looping over short writes, and flushes them to disk with each
 *   append; a failed append cuts the file back to its last whole row and
 *   throws a one-line {@linkcode WriteError} naming the file and how many
 *   whole rows it holds (or, where the cut may have failed, the byte offset
 *   its last whole row ends at).
 * - {@linkcode writeFileAtomic}: a whole file (summary, merged CSV, chart,
 *   report output) written to a temporary file in the same folder, flushed
 *   and renamed over the target, so a reader sees the old file or the new
 *   one, never half of one.
 *
 * Why: a disk that fills mid-run used to leave a CSV ending in a cut row, and
 * later rows were lost without an error.
 *
 * @example Append rows, then replace a whole file
 * ```ts
 * import { DurableAppender, writeFileAtomic } from "./durable.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * const log = DurableAppender.create(`${dir}/log.csv`, "a,b\n");
 * log.append("1,2\n3,4\n", 2);
 * if (log.rows !== 2 || log.size !== 12) throw new Error("two whole rows after the header");
 * writeFileAtomic(`${dir}/summary.md`, "# one\n");
 * writeFileAtomic(`${dir}/summary.md`, "# two\n");
 * if (Deno.readTextFileSync(`${dir}/summary.md`) !== "# two\n") throw new Error("replaced whole");
 * if ([...Deno.readDirSync(dir)].length !== 2) throw new Error("no temporary file is left");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */

/** What the writers need of an open file: a subset of `Deno.FsFile`, so a test can inject a failing one. */
export type WritableFile = Pick<Deno.FsFile, "writeSync" | "syncSync" | "truncateSync" | "close">;

/** Opens a file as `Deno.openSync` does. */
export type Opener = (path: string, options: Deno.OpenOptions) => WritableFile;

/** Options of every writer here. */
export interface WriteOptions {
  /**
   * Opens the files written; tests pass one whose writes come up short or fail.
   * @default Deno.openSync
   */
  open?: Opener;
}

/**
 * A write that failed. The message is one line naming the file: on a full
 * disk how many whole rows it holds, otherwise (or when cutting it back
 * failed) the byte offset its last whole row ends at.
 */
export class WriteError extends Error {
  /** The file the write was for. */
  readonly path: string;
  /** The OS error code (`ENOSPC`, `EIO`, `EROFS`...), when there is one. */
  readonly code: string | undefined;
  /** Whole rows after the header the file holds, when it was cut back to them; else null. */
  readonly rows: number | null;
  /** Byte offset at which the last whole row ends (the file's size when it was cut back). */
  readonly offset: number;

  constructor(message: string, path: string, code: string | undefined, rows: number | null, offset: number) {
    super(message);
    this.name = "WriteError";
    this.path = path;
    this.code = code;
    this.rows = rows;
    this.offset = offset;
  }
}

const encoder = new TextEncoder();
const toBytes = (data: string | Uint8Array) => typeof data === "string" ? encoder.encode(data) : data;

/** The OS error code of `err` (`ENOSPC`...), if any. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The first line of an error's message, without the path Deno sometimes appends (`: writefile '...'`). */
function osMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split("\n").find((l) => l.trim() !== "") ?? "unknown error").replace(/: \w+ '[^']*'$/, "").trim();
}

/** How a disk that is full (or over quota) is named in messages; null for any other error. */
function diskFull(code: string | undefined): string | null {
  return code === "ENOSPC" ? "disk full" : code === "EDQUOT" ? "disk quota exceeded" : null;
}

/**
 * Writes all of `bytes` to `file`, looping while the OS writes fewer than
 * asked (a short write, as on a disk that is filling up). Throws the OS
 * error of the write that failed; a write that makes no progress is an error.
 */
export function writeAll(file: WritableFile, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) {
    const n = file.writeSync(bytes.subarray(done));
    if (!(n > 0)) throw new Error(`write made no progress after ${done} of ${bytes.length} bytes`);
    done += n;
  }
}

/**
 * An append-only file of whole rows (a CSV log). It knows the byte offset
 * after its last whole row; each {@linkcode append} writes its rows whole and
 * flushes them to disk (fsync), so an interrupted run keeps every row it
 * finished. When an append fails the file is cut back to that offset and a
 * {@linkcode WriteError} is thrown:
 *
 * - disk full (ENOSPC, EDQUOT): `<path>: disk full; the file holds its header and N whole rows`
 *   (N counts the rows after the header);
 * - any other error (EIO, EROFS...), or when the cut fails too:
 *   `<path>: <OS error>; its last whole row ends at byte B`.
 *
 * After a cut that failed, every later append throws the same error.
 */
export class DurableAppender {
  readonly path: string;
  private readonly open: Opener;
  private readonly hasHeader: boolean;
  private end: number;
  private count = 0;
  private broken: WriteError | null = null;

  private constructor(path: string, open: Opener, end: number) {
    this.path = path;
    this.open = open;
    this.hasHeader = end > 0;
    this.end = end;
  }

  /** Whole rows written after the header. */
  get rows(): number {
    return this.count;
  }

  /** Byte offset after the last whole row: the file's size. */
  get size(): number {
    return this.end;
  }

  /**
   * Creates `path` new (its folder must exist; an existing file is never
   * overwritten) holding `header`, flushed to disk. If the header cannot be
   * written whole the file is removed and a {@linkcode WriteError} thrown.
   */
  static create(path: string, header: string | Uint8Array, options: WriteOptions = {}): DurableAppender {
    const open = options.open ?? Deno.openSync;
    const bytes = toBytes(header);
    const file = open(path, { write: true, createNew: true });
    try {
      writeAll(file, bytes);
      file.syncSync();
    } catch (err) {
      file.close();
      let removed = "the file was removed";
      try {
        Deno.removeSync(path);
      } catch (rmErr) {
        removed = `removing it failed too (${osMessage(rmErr)})`;
      }
      const code = codeOf(err);
      throw new WriteError(
        `${path}: ${diskFull(code) ?? osMessage(err)} while writing its header; ${removed}`,
        path,
        code,
        null,
        0,
      );
    }
    file.close();
    return new DurableAppender(path, open, bytes.length);
  }

  /**
   * Appends `data`, which holds `rows` whole rows, and flushes it to disk;
   * on failure cuts the file back to its last whole row and throws a
   * {@linkcode WriteError} (see the class).
   */
  append(data: string | Uint8Array, rows: number): void {
    if (this.broken) throw this.broken;
    const bytes = toBytes(data);
    const file = this.open(this.path, { append: true });
    try {
      writeAll(file, bytes);
      file.syncSync();
    } catch (err) {
      throw this.failed(file, err);
    } finally {
      file.close();
    }
    this.end += bytes.length;
    this.count += rows;
  }

  /** Cuts `file` back to the last whole row and returns the error to throw for `err`. */
  private failed(file: WritableFile, err: unknown): WriteError {
    const code = codeOf(err);
    const at = `its last whole row ends at byte ${this.end}`;
    try {
      file.truncateSync(this.end);
      file.syncSync();
    } catch (cutErr) {
      this.broken = new WriteError(
        `${this.path}: ${diskFull(code) ?? osMessage(err)}; ${at}, and cutting it back there failed (${
          osMessage(cutErr)
        })`,
        this.path,
        code,
        null,
        this.end,
      );
      return this.broken;
    }
    const full = diskFull(code);
    if (full === null) return new WriteError(`${this.path}: ${osMessage(err)}; ${at}`, this.path, code, null, this.end);
    const holds = `${this.hasHeader ? "its header and " : ""}${this.count} whole row${this.count === 1 ? "" : "s"}`;
    return new WriteError(`${this.path}: ${full}; the file holds ${holds}`, this.path, code, this.count, this.end);
  }
}

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicOptions extends WriteOptions {
  /**
   * Fail with `Deno.errors.AlreadyExists` instead of replacing an existing file.
   * @default false
   */
  createNew?: boolean;
}

/**
 * The temporary file beside `path`: a fresh name where this run may write in
 * the folder; where it may write only the file itself and `.<name>.tmp`
 * (deno task report's README.md), that fixed name.
 */
function tempPathFor(path: string): { tmp: string; fresh: boolean } {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const prefix = `${slash >= 0 ? path.slice(0, slash + 1) : ""}.${path.slice(slash + 1)}`;
  if (Deno.permissions.querySync({ name: "write", path: dir }).state === "granted") {
    return { tmp: `${prefix}.${crypto.randomUUID().slice(0, 8)}.tmp`, fresh: true };
  }
  return { tmp: `${prefix}.tmp`, fresh: false };
}

/**
 * Writes `data` to `path` whole or not at all: to a temporary file in the
 * same folder, flushed to disk, then renamed over `path` (or, with
 * `createNew`, linked to it, so an existing file is never replaced). The
 * folder must exist. On failure the temporary file is removed, `path` is as
 * it was, and a one-line {@linkcode WriteError} is thrown:
 * `<path>: disk full; nothing written, the file is as it was`.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicOptions = {}): void {
  const open = options.open ?? Deno.openSync;
  const { tmp, fresh } = tempPathFor(path);
  let file: WritableFile | null = null;
  try {
    file = open(tmp, fresh ? { write: true, createNew: true } : { write: true, create: true, truncate: true });
    writeAll(file, toBytes(data));
    file.syncSync();
    file.close();
    file = null;
    if (options.createNew) linkNew(tmp, path);
    else Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      file?.close();
    } catch { /* already failing */ }
    let left = "";
    try {
      Deno.removeSync(tmp);
    } catch (rmErr) {
      // Not there, or not ours to touch (then it was never created): nothing is left behind.
      const none = rmErr instanceof Deno.errors.NotFound || rmErr instanceof Deno.errors.NotCapable;
      if (!none) left = `; the temporary file ${tmp} is left (${osMessage(rmErr)})`;
    }
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AlreadyExists(`${path}: already exists; it was not replaced${left}`);
    }
    const code = codeOf(err);
    const as = options.createNew ? "not created" : "the file is as it was";
    throw new WriteError(
      `${path}: ${diskFull(code) ?? osMessage(err)}; nothing written, ${as}${left}`,
      path,
      code,
      null,
      0,
    );
  }
  if (options.createNew) {
    try {
      Deno.removeSync(tmp); // the link's other name
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

/** Gives `tmp`'s file the name `path` unless `path` exists (a hard link; rename where links are not supported). */
function linkNew(tmp: string, path: string): void {
  try {
    Deno.linkSync(tmp, path);
    return;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw err;
  }
  try {
    Deno.lstatSync(path);
    throw new Deno.errors.AlreadyExists(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  Deno.renameSync(tmp, path);
}
