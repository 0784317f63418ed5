/**
 * The notebook's closing question, "how can we improve the long-term memory
 * of an RNN?", answered over many seeds: at echo 10 with the notebook's data
 * and optimizer, each remedy below trains `--seeds` replicas for `--epochs`.
 * Configurations run as separate processes, `--jobs` at a time, each over
 * `--threads` workers (the cores divided between them, lib/sweep.ts).
 *
 *   deno task exp:memory [--seeds 20] [--epochs 20] [--jobs 2] [--threads 1] [--only lstm-h60,gru-h60] [--resume]
 *
 * Records its flags in results/memory/sweep-<run id>.json, then writes
 * results/memory/<config>/<config>-<run id>.csv (every epoch of every seed)
 * and <config>-<sweep run id>.log (as the child prints), then this sweep's
 * summary to sweep-<run id>-summary.{csv,md} (never the published
 * summary.csv, which `deno task report` writes from results/manifest.json).
 * Exits 1, naming them, if any config fails. Children die with the sweep;
 * `--resume` reruns only the configs an interrupted sweep left unfinished.
 */
import { parse } from "csv-parse/sync";
import {
  defaultThreads,
  type Flag,
  isDirectory,
  MAX_REPLICAS,
  parseCommandOrExit,
  type Parsed,
  parseOrExit,
  parseRunArgs,
  RUN_FLAG,
  UsageError,
  useBackendOrExit,
} from "../lib/cli.ts";
import { divideCores, runSweep, type SweepResult } from "../lib/sweep.ts";
import { stopChildrenOnSignals } from "../lib/parent_watch.ts";
import { SweepProgress } from "../lib/sweep_progress.ts";
import {
  assertSameFlags,
  completeCsv,
  latestSweepRecord,
  type SweepRecord,
  writeSweepRecord,
} from "../lib/sweep_record.ts";
import { latestRuns, readRuns, type Row, summarise, type Summary, summaryMarkdown } from "../lib/summary.ts";
import { formatCsvValue, newRunId } from "../lib/csv_log.ts";
import { stringify } from "csv-stringify/sync";
import { MEMORY_CONFIGS as CONFIGS, MEMORY_ORDER as ORDER } from "../lib/memory_configs.ts";
import { writeFileAtomic } from "../lib/durable.ts";

const TASK = "exp:memory";

/** exp:memory's flags: its own, and the run flags it hands every config's child. */
const FLAGS = [
  { name: "seeds", type: "int", min: 1, max: MAX_REPLICAS, default: 20, help: "seeds of every config" },
  { ...RUN_FLAG.epochs, default: 20 },
  {
    name: "jobs",
    type: "int",
    min: 1,
    max: 256,
    default: navigator.hardwareConcurrency,
    show: "all cores",
    help: "configs run at once, each a process of its own",
  },
  {
    ...RUN_FLAG.threads,
    show: "the cores divided by --jobs, at least 1",
    help: "workers in each config's process; --jobs x --threads at most the cores",
  },
  {
    name: "only",
    type: "names",
    arg: "IDS",
    choices: ORDER,
    default: Object.keys(CONFIGS),
    show: "every config",
    help: "the configs to run",
  },
  RUN_FLAG.backend,
  {
    name: "out",
    type: "dir",
    default: "results/memory",
    help: "where the configs' CSVs and logs, the sweep's record and its summary go",
  },
  RUN_FLAG["max-memory"],
  {
    name: "summary-only",
    type: "bool",
    help: "skip the sweep and print the summary of the latest finished run of every config under --out, " +
      "writing nothing",
  },
  { name: "resume", type: "bool", help: "continue the latest sweep recorded in --out (below)" },
] as const satisfies readonly Flag[];

const NOTES = `Each config's child writes <out>/<config>/<config>-<run id>.csv and its output to
<config>-<sweep run id>.log (a new file each sweep). Writes and prints the summary of this sweep's runs
(<out>/sweep-<run id>-summary.csv and .md); the published results/memory/summary.csv is deno task report's, from
results/manifest.json. If any config fails, the sweep names each failed config and its log on stderr (one line) and
exits 1.

Each sweep records its flags in <out>/sweep-<run id>.json; a log grows as its child prints; on a terminal one line
shows configs and seeds done, time elapsed and left. SIGINT or SIGTERM ends every child before the sweep exits (130,
143), and a child whose sweep is gone (SIGKILL, a crash) stops by itself.

--resume: the same command again, after an interruption, continues the latest sweep recorded in --out: it skips
every config whose CSV is complete (a phase=test row for every seed, at --epochs, from a run since that sweep began),
reruns the others, and says which. --seeds, --epochs, --backend and --only must be as recorded (else exit 2, naming
the flag); --jobs, --threads and --max-memory may change. Without --resume every config runs again.`;

/** --resume runs a sweep, so it cannot go with --summary-only, which runs none. */
function assertResumable(resume: boolean, summaryOnly: boolean): void {
  if (resume && summaryOnly) throw new UsageError("--resume runs a sweep; it cannot go with --summary-only");
}

/** --summary-only needs runs to summarise under --out. */
function assertSummarisable(out: string): void {
  if (!isDirectory(out)) throw new UsageError(`--out ${out} is not a directory of runs to summarise`);
  if (readRuns(out).length === 0) throw new UsageError(`--out ${out} holds no experiment CSVs to summarise`);
}

/** The sweep's settings from its flags, checked against each other and, with --resume, the sweep it resumes. */
function config({ values: v, given }: Parsed<typeof FLAGS>) {
  assertResumable(v.resume, v["summary-only"]);
  if (v["summary-only"]) assertSummarisable(v.out);
  const cfg = {
    seeds: v.seeds,
    epochs: v.epochs,
    ...divideCores(v.jobs, given.has("jobs"), given.has("threads") ? v.threads : null, defaultThreads(v.backend)),
    backend: v.backend,
    maxMemory: v["max-memory"],
    out: v.out,
    only: v.only,
    summaryOnly: v["summary-only"],
    resume: v.resume,
  };
  // The sweep resumed, checked before anything is written.
  const resumes = cfg.resume ? latestSweepRecord(cfg.out, TASK) : null;
  if (resumes) assertSameFlags(resumes, shapingFlags(cfg), cfg.out);
  return { ...cfg, resumes };
}

/** The flags that shape a sweep's results, as recorded and as `--resume` compares them. */
function shapingFlags(c: { seeds: number; epochs: number; backend: string; only: string[] }): Record<string, string> {
  const only = ORDER.filter((id) => c.only.includes(id)).join(",");
  return { "--seeds": String(c.seeds), "--epochs": String(c.epochs), "--backend": c.backend, "--only": only };
}

const { resumes, ...cfg } = parseCommandOrExit({ task: TASK, flags: FLAGS, notes: NOTES }, Deno.args, config);
/** A config's flags for its child, checked here as the child will check them (memory, zero fill, ...). */
const childArgs = (id: string) =>
  [...CONFIGS[id], "--echo-step", "10", "--seeds", String(cfg.seeds), "--epochs", String(cfg.epochs)]
    .concat(["--backend", cfg.backend, "--max-memory", String(cfg.maxMemory), "--threads", String(cfg.threads)]);
if (!cfg.summaryOnly) {
  // Bad input is found before anything is written: each config's flags, and a named backend that cannot load.
  parseOrExit(() => {
    for (const id of cfg.only) {
      try {
        parseRunArgs(childArgs(id));
      } catch (err) {
        if (err instanceof UsageError) throw new UsageError(`config ${id}: ${err.message}`);
        throw err;
      }
    }
  });
  if (cfg.backend !== "auto") await useBackendOrExit(cfg.backend);
}
console.log(`config: ${JSON.stringify(cfg)}`);

const order = (list: Summary[]) => list.sort((a, b) => ORDER.indexOf(a.config) - ORDER.indexOf(b.config));

if (!cfg.summaryOnly) {
  const runId = newRunId();
  const ids = Object.keys(CONFIGS).filter((id) => cfg.only.includes(id));
  const record: SweepRecord = {
    task: TASK,
    runId,
    since: resumes?.since ?? runId,
    flags: shapingFlags(cfg),
    other: { "--jobs": String(cfg.jobs), "--threads": String(cfg.threads), "--max-memory": String(cfg.maxMemory) },
    configs: ids,
  };
  console.log(`sweep ${runId}: flags recorded in ${writeSweepRecord(cfg.out, record)}`);
  // Resuming: a config whose CSV is complete is not run again; its CSV joins this sweep's summary.
  const skipped = new Map<string, string>();
  if (resumes) {
    for (const id of ids) {
      const csv = completeCsv(`${cfg.out}/${id}`, id, cfg.seeds, cfg.epochs, resumes.since);
      if (csv) skipped.set(id, csv);
    }
    const rerun = ids.filter((id) => !skipped.has(id));
    console.log(
      `resuming sweep ${resumes.runId}: skipping ${skipped.size} complete config(s)` +
        (skipped.size ? ` (${[...skipped.keys()].join(", ")})` : "") +
        `; rerunning ${rerun.length}` + (rerun.length ? ` (${rerun.join(", ")})` : ""),
    );
  }
  const jobs = ids.filter((id) => !skipped.has(id)).map((id) => ({
    id,
    args: childArgs(id),
  }));
  const t0 = performance.now();
  const progress = new SweepProgress("configs", jobs.length, jobs.length * cfg.seeds);
  const running = new Set<string>();
  const unwatch = stopChildrenOnSignals((killed) =>
    `stopped sweep ${runId}, ${killed} running config(s) ended` +
    (running.size ? ` (${[...running].join(", ")})` : "") + `; the same command with --resume finishes it`
  );
  const epochLine = /Train Epoch: (\d+)\/(\d+)/g;
  const results = await runSweep("experiments/echo10-h4.ts", jobs, cfg.out, cfg.jobs, runId, (r, done, total) => {
    running.delete(r.id);
    progress.finish(r.id, cfg.seeds);
    const last = Deno.readTextFileSync(r.log).trim().split("\n").filter((l) => l.startsWith("success rate")).pop();
    progress.log(
      `[${done}/${total}] ${r.id}: exit ${r.code}, ${(r.seconds / 60).toFixed(1)} min; ${last ?? "see " + r.log}`,
    );
  }, {
    onStart: (id) => running.add(id),
    onOutput: (id, text) => {
      const m = [...text.matchAll(epochLine)].pop();
      if (m) progress.partial(id, Number(m[1]) / (Number(m[2]) + 1)); // the test is the last step
    },
  });
  unwatch();
  progress.stop();
  console.log(`sweep ${runId} wall time: ${((performance.now() - t0) / 60000).toFixed(1)} min`);
  const all: SweepResult[] = [
    ...[...skipped].map(([id, csv]) => ({ id, code: 0, seconds: 0, log: "", csv })),
    ...results,
  ];
  const done = all.filter((r) => r.code === 0 && r.csv);
  if (done.length) {
    // This sweep's summary goes to files of its own: results/memory/summary.{csv,md} are published
    // (deno task report writes them from results/manifest.json), and a user's sweep never changes them.
    const rows = done.flatMap((r) => parse(Deno.readTextFileSync(r.csv!), { columns: true }) as Row[]);
    const summary = order(summarise(rows));
    const base = `${cfg.out}/sweep-${runId}-summary`;
    const columns = Object.keys(summary[0]);
    writeFileAtomic(
      `${base}.csv`,
      stringify([columns, ...summary.map((s) => columns.map((c) => formatCsvValue(s[c as keyof Summary])))]),
      { createNew: true },
    );
    writeFileAtomic(`${base}.md`, summaryMarkdown(summary), { createNew: true });
    console.log(`this sweep (${runId}), ${done.length} of ${all.length} config(s): ${base}.csv, ${base}.md`);
    console.log(summaryMarkdown(summary));
  }
  const failed = all.filter((r) => !done.includes(r));
  if (failed.length) {
    console.error(
      `error: ${failed.length} of ${all.length} config(s) failed: ` +
        failed.map((r) => `${r.id} (exit ${r.code}${r.error ? `: ${r.error.replace(/^error: /, "")}` : ""}; ${r.log})`)
          .join(", "),
    );
    Deno.exit(1);
  }
} else {
  // The latest finished run of every config under --out, printed; nothing is written.
  console.log(summaryMarkdown(order(summarise(latestRuns(readRuns(cfg.out))))));
}
