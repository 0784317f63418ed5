/**
 * Combines the shard CSVs of `exp:capacity` into one, refusing a set with a
 * missing or duplicated shard (or shards of different grids), and prints the
 * capacity map.
 *
 *   deno task merge results/capacity/shard-*.csv [--out results/capacity/capacity.csv]
 */
import { parseArgs } from "node:util";
import { capacities, MergeError, mergeShards, SHARD_COLUMNS } from "../lib/capacity.ts";
import { assertWritable, parseOrExit, UsageError } from "../lib/cli.ts";
import { CsvLog } from "../lib/csv_log.ts";

const { out, rows, files } = parseOrExit(() => {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" } },
    strict: true,
    allowPositionals: true,
  });
  const out = values.out ?? "results/capacity/capacity.csv";
  assertWritable("--out", out, "merge");
  try {
    return { out, rows: mergeShards(positionals), files: positionals };
  } catch (err) {
    if (err instanceof MergeError || err instanceof Deno.errors.NotFound) throw new UsageError((err as Error).message);
    throw err;
  }
});
try {
  Deno.removeSync(out);
} catch { /* a first merge */ }
CsvLog.create(out, SHARD_COLUMNS).append(...rows);
console.log(`merged ${files.length} shard(s), ${rows.length} grid points -> ${out}`);
for (const c of capacities(rows)) {
  console.log(`${c.cell} H${c.hidden}: largest echo learnt by half the seeds = ${c.capacity}`);
}
