/**
 * The notebook's closing question, "how can we improve the long-term memory
 * of an RNN?", answered over many seeds: at echo 10 with the notebook's data
 * and optimizer, each remedy below trains `--seeds` replicas for `--epochs`.
 * Configurations run as separate processes, `--jobs` at a time.
 *
 *   deno task exp:memory [--seeds 20] [--epochs 20] [--jobs 2] [--only lstm-h60,gru-h60]
 *
 * Writes results/memory/<config>/<config>-<run id>.csv (every epoch of every
 * seed), then results/memory/summary.csv and summary.md.
 */
import { parseArgs } from "node:util";
import { assertWritable, int, oneOf, parseOrExit, UsageError } from "../lib/cli.ts";
import { BACKENDS } from "../lib/backend.ts";
import { runSweep } from "../lib/sweep.ts";
import { latestRuns, readRuns, summarise, summaryMarkdown } from "../lib/summary.ts";
import { CsvLog } from "../lib/csv_log.ts";
import { MEMORY_CONFIGS as CONFIGS, MEMORY_ORDER as ORDER } from "../lib/memory_configs.ts";

function config() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seeds: { type: "string" },
      epochs: { type: "string" },
      jobs: { type: "string" },
      only: { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      "summary-only": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(`usage: deno task exp:memory [--seeds 20] [--epochs 20] [--jobs N] [--only ids] [--backend auto]
  [--out results/memory] [--summary-only]\nconfigs: ${ORDER.join(", ")}`);
    Deno.exit(0);
  }
  const only = values.only ? values.only.split(",") : Object.keys(CONFIGS);
  for (const id of only) {
    if (!(id in CONFIGS)) throw new UsageError(`--only must list configs from ${ORDER.join(", ")}, got "${id}"`);
  }
  return {
    seeds: int("seeds", values.seeds, 20, 1, 4096),
    epochs: int("epochs", values.epochs, 20, 1, 10_000),
    jobs: int("jobs", values.jobs, navigator.hardwareConcurrency, 1, 256),
    backend: oneOf("backend", values.backend, "auto", BACKENDS),
    out: assertWritable("--out", values.out ?? "results/memory", "exp:memory"),
    only,
    summaryOnly: values["summary-only"] ?? false,
  };
}

const cfg = parseOrExit(config);
console.log(`config: ${JSON.stringify(cfg)}`);

if (!cfg.summaryOnly) {
  const jobs = Object.keys(CONFIGS).filter((id) => cfg.only.includes(id)).map((id) => ({
    id,
    args: [...CONFIGS[id], "--echo-step", "10", "--seeds", String(cfg.seeds), "--epochs", String(cfg.epochs)]
      .concat(["--backend", cfg.backend]),
  }));
  const t0 = performance.now();
  await runSweep("experiments/echo10-h4.ts", jobs, cfg.out, cfg.jobs, (r, done, total) => {
    const last = Deno.readTextFileSync(r.log).trim().split("\n").filter((l) => l.startsWith("success rate")).pop();
    console.log(
      `[${done}/${total}] ${r.id}: exit ${r.code}, ${(r.seconds / 60).toFixed(1)} min; ${last ?? "see " + r.log}`,
    );
  });
  console.log(`sweep wall time: ${((performance.now() - t0) / 60000).toFixed(1)} min`);
}

const summary = summarise(latestRuns(readRuns(cfg.out)))
  .sort((a, b) => ORDER.indexOf(a.config) - ORDER.indexOf(b.config));
const path = `${cfg.out}/summary.csv`;
try {
  Deno.removeSync(path);
} catch { /* first summary */ }
const columns = Object.keys(summary[0] ?? {});
if (summary.length) CsvLog.create(path, columns).append(...summary.map((s) => ({ ...s })));
const md = summaryMarkdown(summary);
Deno.writeTextFileSync(`${cfg.out}/summary.md`, md);
console.log(md);
