/**
 * How faithful is the reproduction? The notebook's own PyTorch code
 * (bench/torch_parity.py, Debian's /usr/bin/python3 with python3-torch) and
 * echolab train the same configurations over many seeds, with upstream's
 * data (a new series at chunk 0 of every epoch, "regen") and with
 * `--fixed-series` ("fixed"); the summary compares their success rates
 * (Wilson 95% intervals, Fisher's exact test) and where their final test
 * accuracies plateau.
 *
 *   deno task exp:parity [--only echo3-rnn-h4] [--jobs 2] [--threads 1] [--shard i/n] [--max-seeds N] [--summary-only]
 *
 * Seeds 1..N of each side (their RNGs differ, so a seed means different bits
 * and weights on each side). `--shard i/n` runs every n-th seed from the i-th
 * on both sides, e.g. one shard per machine; seeds already in a per-seed CSV
 * under --out are skipped, so every rerun resumes (`--resume` is accepted, the
 * same as without it). Each echolab child trains over `--threads` workers, the
 * cores divided between them and `--jobs` (lib/sweep.ts). Children die with the run (lib/parent_watch.ts); an
 * echolab child's log grows as it prints. Writes
 * results/parity/torch/<config>-<mode>-shard<i>of<n>-job<j>.csv (a row per
 * seed as it finishes), results/parity/echolab/<config>-<mode>-<run id>.csv
 * (per seed, from the experiment's own CSV kept under echolab/raw/), then
 * results/parity/summary.csv and summary.md where there are none; the
 * published ones are never deleted or rewritten: a run whose summary differs
 * writes summary-<run id>.csv and .md of its own.
 */
import { DATA_GENERATOR } from "../lib/echo_bits.ts";
import {
  type Flag,
  isDirectory,
  parseCommandOrExit,
  type Parsed,
  parseOrExit,
  RUN_FLAG,
  shardFlag,
  UsageError,
} from "../lib/cli.ts";
import { MAX_SHARDS } from "../lib/capacity.ts";
import { stringify } from "csv-stringify/sync";
import { CsvLog, formatCsvValue, newRunId } from "../lib/csv_log.ts";
import { writeFileAtomic } from "../lib/durable.ts";
import { isStopping, spawnChild, stopChildrenOnSignals } from "../lib/parent_watch.ts";
import { divideCores, runLogged } from "../lib/sweep.ts";
import { SweepProgress } from "../lib/sweep_progress.ts";
import {
  echolabSeedRows,
  MODES,
  type ParityConfig,
  parityMarkdown,
  PER_SEED_COLUMNS,
  readSeedRows,
  shardSeeds,
  splitRoundRobin,
  summariseParity,
  summaryCsvRows,
} from "../lib/parity.ts";

// Knobs: the notebook's configurations (cells 11-21, and the LSTM remedy at H 4), seeds per side and data mode.
const CONFIGS: ParityConfig[] = [
  { id: "echo3-rnn-h4", script: "experiments/echo3.ts", echoStep: 3, hidden: 4, cell: "rnn", epochs: 5, seeds: 100 },
  {
    id: "echo10-rnn-h4",
    script: "experiments/echo10-h4.ts",
    echoStep: 10,
    hidden: 4,
    cell: "rnn",
    epochs: 20,
    seeds: 20,
  },
  {
    id: "echo10-rnn-h60",
    script: "experiments/echo10-h60.ts",
    echoStep: 10,
    hidden: 60,
    cell: "rnn",
    epochs: 20,
    seeds: 20,
  },
  {
    id: "echo10-lstm-h4",
    script: "experiments/echo10-h4.ts",
    echoStep: 10,
    hidden: 4,
    cell: "lstm",
    epochs: 20,
    seeds: 20,
  },
];
const PYTHON = "/usr/bin/python3";
const ROOT = new URL("../", import.meta.url).pathname;
const IDS = CONFIGS.map((c) => c.id);

/** exp:parity's flags. */
const FLAGS = [
  {
    name: "only",
    type: "names",
    arg: "IDS",
    choices: IDS,
    default: IDS,
    show: "every config",
    help: "the configs to run",
  },
  { name: "jobs", type: "int", min: 1, max: 256, default: 2, help: "units run at once, each a process of its own" },
  {
    ...RUN_FLAG.threads,
    show: "the cores divided by --jobs, at least 1",
    help: "workers in each echolab unit's process; --jobs x --threads at most the cores",
  },
  shardFlag(
    MAX_SHARDS,
    "every n-th seed from the i-th, on both sides, {range} (default {default}); e.g. one shard per machine",
  ),
  {
    name: "max-seeds",
    type: "int",
    min: 1,
    max: 4096,
    default: 4096,
    help: "at most N seeds of each config (seeds 1..N; a config's own count where smaller)",
  },
  { name: "out", type: "dir", default: "results/parity", help: "where the per-seed CSVs, logs and summary go" },
  { name: "summary-only", type: "bool", help: "run nothing: summarise the per-seed CSVs under --out" },
  { name: "resume", type: "bool", help: "accepted and changes nothing: every run resumes (below)" },
] as const satisfies readonly Flag[];

const NOTES = `Every run resumes: seeds already in a per-seed CSV under --out (any earlier run, whatever its
flags) are skipped, and only the others run: an interrupted torch unit keeps each seed it finished (a row per seed), an
interrupted echolab unit runs its seeds again (they are kept when its child finishes). --resume is accepted and changes
nothing: unlike exp:memory there is no sweep record to match flags against, since each seed is kept or run on its own.

Children die with the run: SIGINT or SIGTERM ends them before it exits (130, 143); a child whose run is gone stops by
itself. Echolab logs grow as their children print; on a terminal one line shows units and seeds done, time elapsed
and left.`;

/** --summary-only needs a folder of parity runs under --out. */
function assertSummarisable(out: string): void {
  if (!isDirectory(out)) throw new UsageError(`--out ${out} is not a directory of parity runs to summarise`);
}

/** The run's settings from its flags. */
function config({ values: v, given }: Parsed<typeof FLAGS>) {
  if (v["summary-only"]) assertSummarisable(v.out);
  return {
    only: v.only,
    ...divideCores(v.jobs, given.has("jobs"), given.has("threads") ? v.threads : null),
    ...v.shard,
    maxSeeds: v["max-seeds"],
    out: v.out,
    summaryOnly: v["summary-only"],
  };
}

const cfg = parseCommandOrExit({ task: "exp:parity", flags: FLAGS, notes: NOTES }, Deno.args, config);
console.log(`config: ${JSON.stringify(cfg)}`);

/** Whether /usr/bin/python3 imports torch; the reason when it does not. */
async function torchAvailable(): Promise<string | null> {
  try {
    const out = await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stdout: "null", stderr: "piped" })
      .output();
    if (out.success) return null;
    return new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? `exit ${out.code}`;
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

/** One subprocess of the run: an echolab experiment or a torch shard. */
interface Unit {
  label: string;
  /** Seeds it runs. */
  seeds: number;
  run: () => Promise<string>;
}

/** The run's progress line (a silent one until the units start). */
let progress = new SweepProgress("units", 0, 0, false);

async function echolabUnit(c: ParityConfig, mode: (typeof MODES)[number], seeds: number[]): Promise<string> {
  const name = `${c.id}-${mode}`;
  const dir = `${cfg.out}/echolab/raw/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  const args = [
    "run",
    "--allow-read",
    `--allow-write=${dir}`,
    `${ROOT}${c.script}`,
    "--seeds",
    seeds.join(","),
    "--echo-step",
    String(c.echoStep),
    "--hidden",
    String(c.hidden),
    "--cell",
    c.cell,
    "--epochs",
    String(c.epochs),
    "--name",
    name,
    "--out",
    dir,
    "--threads",
    String(cfg.threads),
    ...(mode === "fixed" ? ["--fixed-series"] : []),
  ];
  const runId = newRunId();
  const label = `echolab ${c.id} ${mode}`;
  const out = await runLogged("deno", args, `${dir}/${name}-${runId}.log`, (t) => {
    const m = [...t.matchAll(/Train Epoch: (\d+)\/(\d+)/g)].pop();
    if (m) progress.partial(label, Number(m[1]) / (Number(m[2]) + 1)); // the test is the last step
  });
  const text = out.stdout;
  const csv = /^csv: (.+)$/m.exec(text)?.[1];
  if (out.code !== 0 || !csv) return `exit ${out.code}, see ${dir}/${name}-${runId}.log`;
  const rows = echolabSeedRows(Deno.readTextFileSync(csv), c.id, mode);
  CsvLog.create(`${cfg.out}/echolab/${name}-${runId}.csv`, PER_SEED_COLUMNS).append(...rows);
  return text.trim().split("\n").filter((l) => l.startsWith("success rate")).pop() ?? `${rows.length} seeds`;
}

async function torchUnit(c: ParityConfig, mode: (typeof MODES)[number], seeds: number[], job: number) {
  const args = [
    `${ROOT}bench/torch_parity.py`,
    "--config",
    c.id,
    "--echo",
    String(c.echoStep),
    "--hidden",
    String(c.hidden),
    "--cell",
    c.cell,
    "--epochs",
    String(c.epochs),
    "--mode",
    mode,
    "--seeds",
    seeds.join(","),
    "--out",
    `${cfg.out}/torch/${c.id}-${mode}-shard${cfg.shard}of${cfg.shards}-job${job}.csv`,
  ];
  Deno.mkdirSync(`${cfg.out}/torch`, { recursive: true });
  const child = spawnChild(PYTHON, args);
  const label = `torch ${c.id} ${mode} job ${job}`;
  const lines: string[] = [];
  const errText = new Response(child.stderr).text();
  let pending = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    for (const l of parts.filter((l) => l.trim())) {
      lines.push(l);
      progress.seeds(1);
      progress.partial(label, lines.length / seeds.length);
      progress.log(`  ${l}`);
    }
  }
  if (pending.trim()) lines.push(pending);
  const status = await child.status;
  const err = (await errText).trim();
  if (!status.success) return `exit ${status.code}: ${err.split("\n").pop()}`;
  return `${lines.length} seeds`;
}

if (!cfg.summaryOnly) {
  const t0 = performance.now();
  const noTorch = await torchAvailable();
  if (noTorch) console.log(`torch side skipped: ${PYTHON} cannot import torch (${noTorch})`);
  const done = parseOrExit(() => readSeedRows(cfg.out)); // a bad per-seed file is bad input: exit 2, nothing run
  const has = (side: string, id: string, mode: string, seed: number) =>
    done.some((r) =>
      r.side === side && r.config === id && r.mode === mode && r.seed === seed &&
      (side === "torch" || r.data_generator === DATA_GENERATOR)
    );
  const units: Unit[] = [];
  let seedsTotal = 0;
  for (const c of CONFIGS.filter((c) => cfg.only.includes(c.id))) {
    const seeds = shardSeeds(Math.min(c.seeds, cfg.maxSeeds), cfg.shard, cfg.shards);
    for (const mode of MODES) {
      const eTodo = seeds.filter((s) => !has("echolab", c.id, mode, s));
      const tTodo = seeds.filter((s) => !has("torch", c.id, mode, s));
      const tag = `${c.id} ${mode}`;
      seedsTotal += eTodo.length + (noTorch ? 0 : tTodo.length);
      console.log(
        `${tag}: echolab ${eTodo.length}/${seeds.length} seeds to run, torch ` +
          (noTorch ? "skipped" : `${tTodo.length}/${seeds.length}`) + ` (shard ${cfg.shard}/${cfg.shards})`,
      );
      if (eTodo.length) {
        units.push({ label: `echolab ${tag}`, seeds: eTodo.length, run: () => echolabUnit(c, mode, eTodo) });
      }
      if (!noTorch && tTodo.length) {
        splitRoundRobin(tTodo, cfg.jobs).forEach((part, j) =>
          units.push({
            label: `torch ${tag} job ${j + 1}`,
            seeds: 0, // counted as each seed's row is printed
            run: () => torchUnit(c, mode, part, j + 1),
          })
        );
      }
    }
  }
  let finished = 0;
  const total = units.length;
  progress = new SweepProgress("units", total, seedsTotal);
  const running = new Set<string>();
  const unwatch = stopChildrenOnSignals((killed) =>
    `stopped the parity run, ${killed} running unit(s) ended` +
    (running.size ? ` (${[...running].join(", ")})` : "") + "; the same command again runs the seeds left"
  );
  const worker = async () => {
    for (let u = units.shift(); u && !isStopping(); u = units.shift()) {
      const u0 = performance.now();
      progress.log(`start ${u.label}`);
      running.add(u.label);
      const result = await u.run();
      if (isStopping()) return; // a signal is ending the run: report nothing more
      running.delete(u.label);
      progress.finish(u.label, u.seeds);
      progress.log(
        `[${++finished}/${total}] ${u.label}: ${result}, ${((performance.now() - u0) / 60000).toFixed(1)} min`,
      );
    }
  };
  await Promise.all(Array.from({ length: cfg.jobs }, worker));
  unwatch();
  progress.stop();
  console.log(`parity wall time: ${((performance.now() - t0) / 60000).toFixed(1)} min`);
}

const summary = summariseParity(readSeedRows(cfg.out), IDS);
if (!summary.length) {
  console.log(`no per-seed CSVs under ${cfg.out}; nothing to summarise`);
} else {
  const rows = summaryCsvRows(summary);
  const columns = Object.keys(rows[0]);
  const csv = stringify([columns, ...rows.map((r) => columns.map((c) => formatCsvValue(r[c])))]);
  const md = parityMarkdown(summary);
  console.log(md);
  console.log(writeSummary(cfg.out, csv, `# Parity: the notebook's PyTorch code against echolab\n\n${md}`));
}

/**
 * Writes this run's summary without ever deleting or rewriting the published
 * summary.csv and summary.md (deno task report reads summary.csv): they are
 * created where there are none; where they already hold this summary nothing
 * is written; otherwise it goes to files of its own, summary-<run id>.{csv,md}.
 * Returns the line saying which.
 */
function writeSummary(out: string, csv: string, md: string): string {
  const published = [`${out}/summary.csv`, `${out}/summary.md`];
  const now = published.map((p) => {
    try {
      return Deno.readTextFileSync(p);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  });
  if (now[0] === csv && now[1] === md) return `summary unchanged: ${published.join(", ")}; nothing written`;
  if (now.every((t) => t === null)) {
    try {
      writeFileAtomic(published[0], csv, { createNew: true });
      writeFileAtomic(published[1], md, { createNew: true });
      return `summary: ${published.join(", ")}`;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // another run published first
    }
  }
  const runId = newRunId();
  const own = [`${out}/summary-${runId}.csv`, `${out}/summary-${runId}.md`];
  writeFileAtomic(own[0], csv, { createNew: true });
  writeFileAtomic(own[1], md, { createNew: true });
  return `summary of this run: ${own.join(", ")} (the published ${published.join(" and ")} differ and are kept; ` +
    `copy these over them to publish)`;
}
