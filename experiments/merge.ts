/**
 * Combines the shard CSVs of `exp:capacity` into one, refusing a set with a
 * missing or duplicated shard (or shards of different grids, or a file that
 * is not a complete shard CSV), and prints the capacity map.
 *
 *   deno task merge results/capacity/shard-*.csv [--out results/capacity/capacity.csv] [--force]
 */
import { stringify } from "csv-stringify/sync";
import { capacities, MergeError, mergeShards, SHARD_COLUMNS, type ShardRow } from "../lib/capacity.ts";
import { type Command, type Flag, parseCommandOrExit, UsageError } from "../lib/cli.ts";
import { ReadbackError, readBoundedText } from "../lib/readback.ts";
import { writeFileAtomic } from "../lib/durable.ts";

const DEFAULT_OUT = "results/capacity/capacity.csv";
/** merge's command line: the shard CSVs, where the merged one goes, and whether it may replace another. */
const MERGE = {
  task: "merge",
  about: "Combines the shard CSVs of exp:capacity into one CSV and prints the capacity map.",
  args: [["SHARD.csv...", "every shard of one grid, each once (a shard with no grid points is a header-only CSV)"]],
  flags: [
    {
      name: "out",
      type: "file",
      default: DEFAULT_OUT,
      help: "the merged CSV (default {default}). If FILE already holds exactly these rows, nothing is written; " +
        "if it holds others, merge refuses unless --force",
    },
    { name: "force", type: "bool", help: "replace an --out FILE that holds other rows" },
  ],
} as const satisfies Command<readonly Flag[]>;

/** The CSV text of merged rows, as CsvLog writes it. */
function csvText(rows: ShardRow[]): string {
  return stringify([[...SHARD_COLUMNS], ...rows.map((r) => SHARD_COLUMNS.map((c) => r[c]))]);
}

/** The same header and the same rows in any order. */
function sameRows(a: string, b: string): boolean {
  const lines = (t: string) => t.split("\n").filter((l) => l !== "");
  const [la, lb] = [lines(a), lines(b)];
  return la[0] === lb[0] && la.length === lb.length && la.slice(1).sort().join("\n") === lb.slice(1).sort().join("\n");
}

const { out, rows, files, text, upToDate } = parseCommandOrExit(MERGE, Deno.args, ({ values, positionals }) => {
  const out = values.out;
  if (positionals.length === 0) throw new UsageError("no shard files given (usage: deno task merge SHARD.csv...)");
  let rows: ShardRow[];
  try {
    rows = mergeShards(positionals);
  } catch (err) {
    if (err instanceof MergeError) throw new UsageError(err.message);
    throw err;
  }
  const text = csvText(rows);
  let old: string | null = null;
  try {
    Deno.statSync(out);
    old = readBoundedText(out, "merged capacity CSV"); // a FIFO or device is refused, a huge file read only to the cap
  } catch (err) {
    if (err instanceof ReadbackError) throw new UsageError(`--out ${err.message}`);
    if (!(err instanceof Deno.errors.NotFound)) throw new UsageError(`--out ${out}: ${(err as Error).message}`);
  }
  const upToDate = old !== null && sameRows(old, text);
  if (old !== null && !upToDate && !values.force) {
    throw new UsageError(`--out ${out} exists and holds other rows; pass --force to replace it, or name another file`);
  }
  return { out, rows, files: positionals, text, upToDate };
});

if (upToDate) {
  console.log(`${out} already holds these ${rows.length} grid points; nothing written`);
} else {
  // Written beside the target, then renamed over it: a reader never sees half a file.
  const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  Deno.mkdirSync(dir, { recursive: true });
  writeFileAtomic(out, text);
  console.log(`merged ${files.length} shard(s), ${rows.length} grid points -> ${out}`);
}
for (const c of capacities(rows)) {
  console.log(`${c.cell} H${c.hidden}: largest echo learnt by half the seeds = ${c.capacity}`);
}
