/**
 * What lets an interrupted sweep be resumed: when a sweep starts it records
 * its flags in `<out>/sweep-<run id>.json` (written whole); `--resume` reads
 * the latest record there, refuses flags that differ from it, and skips every
 * config whose experiment CSV is complete, that is, holds a `phase=test` row
 * (lib/experiment.ts CSV_COLUMNS) for every seed of the sweep, at the
 * sweep's epochs, from a run started since the sweep first began.
 */
import { parse } from "csv-parse/sync";
import { UsageError } from "./cli.ts";
import { writeFileAtomic } from "./durable.ts";

/** A sweep's record of itself. */
export interface SweepRecord {
  /** The deno task, e.g. "exp:memory". */
  task: string;
  /** This sweep's run id. */
  runId: string;
  /** Run id of the first sweep of a chain of resumes (this one's own id when it resumes none). */
  since: string;
  /** Flags that shape the results, `--flag` to value; `--resume` needs them all the same. */
  flags: Record<string, string>;
  /** Flags that do not (e.g. --jobs), kept for the record only. */
  other: Record<string, string>;
  /** The configs the sweep runs. */
  configs: string[];
}

const RECORD = /^sweep-(\d{8}-\d{6}-[a-z0-9]{4})\.json$/;

/** `<out>/sweep-<run id>.json`. */
export function recordPath(out: string, runId: string): string {
  return `${out}/sweep-${runId}.json`;
}

/** Writes `record` whole to its path in `out` (made if missing), as a new file; returns the path. */
export function writeSweepRecord(out: string, record: SweepRecord): string {
  const path = recordPath(out, record.runId);
  Deno.mkdirSync(out, { recursive: true }); // a new --out is made, as the experiments make theirs
  writeFileAtomic(path, JSON.stringify(record, null, 2) + "\n", { createNew: true });
  return path;
}

/**
 * The latest sweep record in `out` (run ids sort by time). Throws a one-line
 * {@linkcode UsageError} naming `--resume` when there is none, or when it is
 * not a record of `task`'s.
 */
export function latestSweepRecord(out: string, task: string): SweepRecord {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(out)].filter((e) => e.isFile && RECORD.test(e.name)).map((e) => e.name).sort();
  } catch { /* reported below */ }
  const name = names.pop();
  if (!name) throw new UsageError(`--resume: --out ${out} holds no sweep-<run id>.json of a sweep to resume`);
  let record: SweepRecord;
  try {
    record = JSON.parse(Deno.readTextFileSync(`${out}/${name}`));
  } catch (err) {
    throw new UsageError(`--resume: ${out}/${name} is not a sweep record (${(err as Error).message.split("\n")[0]})`);
  }
  const ok = record && typeof record === "object" && record.task === task && typeof record.runId === "string" &&
    typeof record.since === "string" && record.flags && typeof record.flags === "object";
  if (!ok) throw new UsageError(`--resume: ${out}/${name} is not a record of a ${task} sweep`);
  return record;
}

/**
 * Throws a one-line {@linkcode UsageError} naming the first flag whose value
 * differs between the recorded sweep and this command line.
 */
export function assertSameFlags(record: SweepRecord, flags: Record<string, string>, out: string): void {
  for (const flag of new Set([...Object.keys(record.flags), ...Object.keys(flags)])) {
    const was = record.flags[flag], now = flags[flag];
    if (was === now) continue;
    throw new UsageError(
      `${flag} ${now ?? "(not given)"} differs from the interrupted sweep's ${flag} ${was ?? "(not given)"} ` +
        `(${recordPath(out, record.runId)}); --resume needs the same flags`,
    );
  }
}

/** The `YYYYMMDD-HHMMSS` part of a run id, by which run ids compare in time. */
const stamp = (runId: string) => runId.slice(0, 15);

/**
 * The complete CSV of experiment `name` in `dir`, if any: one whose run began
 * no earlier than run id `since`, with `epochs` epochs, and a `phase=test`
 * row for each of `seeds` seeds (every seed it logged). The latest such run.
 */
export function completeCsv(dir: string, name: string, seeds: number, epochs: number, since: string): string | null {
  let files: string[] = [];
  try {
    files = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".csv")).map((e) => e.name).sort();
  } catch {
    return null;
  }
  for (const file of files.reverse()) {
    let rows: Record<string, string>[];
    try {
      rows = parse(Deno.readTextFileSync(`${dir}/${file}`), { columns: true });
    } catch {
      continue; // not an experiment CSV, or cut short: not complete
    }
    if (!rows.length || rows[0].experiment !== name || stamp(rows[0].run_id ?? "") < stamp(since)) continue;
    if (rows.some((r) => r.run_id !== rows[0].run_id || r.epochs !== String(epochs))) continue;
    const all = new Set(rows.map((r) => r.seed));
    const tested = new Set(rows.filter((r) => r.phase === "test").map((r) => r.seed));
    if (all.size === seeds && tested.size === seeds) return `${dir}/${file}`;
  }
  return null;
}
