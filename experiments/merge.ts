/**
 * Combines the shard CSVs of `exp:capacity` into one, refusing a set with a
 * missing or duplicated shard (or shards of different grids), and prints the
 * capacity map.
 *
 *   deno task merge results/capacity/shard-*.csv [--out results/capacity/capacity.csv]
 */
import { parseArgs } from "node:util";
import { capacities, MergeError, mergeShards, SHARD_COLUMNS } from "../lib/capacity.ts";
import { CsvLog } from "../lib/csv_log.ts";

const { values, positionals } = (() => {
  try {
    return parseArgs({ args: Deno.args, options: { out: { type: "string" } }, strict: true, allowPositionals: true });
  } catch (err) {
    console.error(`error: ${(err as Error).message.split("\n")[0]}`);
    Deno.exit(2);
  }
})();
const out = values.out ?? "results/capacity/capacity.csv";
let rows;
try {
  rows = mergeShards(positionals);
} catch (err) {
  if (!(err instanceof MergeError) && !(err instanceof Deno.errors.NotFound)) throw err;
  console.error(`error: ${(err as Error).message.split("\n")[0]}`);
  Deno.exit(2);
}
try {
  Deno.removeSync(out);
} catch { /* a first merge */ }
CsvLog.create(out, SHARD_COLUMNS).append(...rows);
console.log(`merged ${positionals.length} shard(s), ${rows.length} grid points -> ${out}`);
for (const c of capacities(rows)) {
  console.log(`${c.cell} H${c.hidden}: largest echo learnt by half the seeds = ${c.capacity}`);
}
