import { quietTfjsWarnings, tf } from "./tf.ts";
import { type BackendName, describeBackend, useBackend } from "./backend.ts";
import {
  assertRunMemory,
  assertTakes,
  assertWritable,
  firstLine,
  flagGiven,
  type Knobs,
  parseOrExit,
  parseRunArgs,
  RUN_COLUMNS,
  runCells,
  type RunConfig,
  threadsOn,
  usage,
  UsageError,
} from "./cli.ts";
import { assertKernelFits, type KernelChoice } from "./kernels/mod.ts";
import { CsvLog, type CsvValue, newRunId } from "./csv_log.ts";
import { DATA_GENERATOR } from "./echo_bits.ts";
import { exitWhenParentDies } from "./parent_watch.ts";
import { Progress } from "./progress.ts";
import { replicaTrainer } from "./threads.ts";
import type { EchoCheck } from "./train.ts";

/** Test accuracy (%) at or above which a replica counts as a success. */
export const SUCCESS_ACCURACY = 99;

/**
 * Columns of every experiment CSV, in order: the run's, then one per run
 * flag that shapes the science (`RUN_COLUMNS`, from the flag table in
 * lib/cli/run.ts: cell ... epochs), then the model's size.
 */
export const CSV_COLUMNS = [
  "experiment",
  "run_id",
  "seed",
  "phase",
  "epoch",
  "train_loss",
  "train_acc",
  "test_acc",
  "echo_correct",
  "status",
  "seconds",
  "backend",
  "kernel",
  "kernel_reason",
  "data_generator",
  ...RUN_COLUMNS,
  "parameters",
] as const;

/** What an experiment script declares: its name, its notebook section, its knobs. */
export interface ExperimentSpec {
  /** Name in CSVs and file names, e.g. "echo3". */
  name: string;
  /** deno task that runs it, for --help. */
  task: string;
  /** One paragraph for --help. */
  about: string;
  knobs: Knobs;
  /** Runs every cell unless `--cell` names one (exp:gradients), so `--identity-scale` applies without `--cell irnn`. */
  everyCellByDefault?: boolean;
  /**
   * The flags the script honours (names without `--`); any other run flag is
   * refused by name rather than silently ignored. Default: every run flag.
   */
  takes?: readonly string[];
  /** Run the notebook's random-sequence check (cells 13-16) after the test. */
  echoCheck?: boolean;
}

/** Per-replica outcome of a run. */
export interface ExperimentResult {
  config: RunConfig;
  csvPath: string;
  testAccuracy: number[];
  diverged: boolean[];
  successes: number;
}

/** Parses flags; on bad input prints one line and exits 2, on --help prints usage and exits 0. */
export function configFromArgs(spec: ExperimentSpec, argv: string[]): RunConfig {
  const cfg = parseOrExit(() => {
    if (spec.takes) assertTakes(spec.task, spec.takes, argv);
    const cfg = parseRunArgs(argv, spec.knobs, { everyCellByDefault: spec.everyCellByDefault });
    if (cfg) assertWritable("--out", cfg.out, spec.task);
    return cfg;
  });
  if (cfg) return cfg;
  console.log(usage(spec.task, spec.about, spec.knobs, spec.takes));
  Deno.exit(0);
}

/**
 * The kernel `cfg` runs on the backend now loaded, after checking it can run
 * there: throws a {@linkcode UsageError} for `--kernel fused` past what the
 * backend's kernels take, a memory estimate (for the recurrence that runs
 * here) over `--max-memory` or over what wasm memory holds, or a tensor over
 * the WebGPU adapter's buffer limit.
 */
export function assertRunsHere(cfg: RunConfig): KernelChoice {
  const backend = tf.getBackend();
  const choice = assertKernelFits({ ...cfg, backend, seeds: cfg.seeds.length });
  assertRunMemory(cfg, backend);
  return choice;
}

export { echoDataFor } from "./replicas.ts";

const pct = (x: number) => `${x.toFixed(1)}%`;

/**
 * Runs the notebook's "Putting it all together" for S replicas: train
 * `epochs` epochs, test, optionally check one random sequence, printing the
 * notebook's lines and logging every epoch of every replica to CSV.
 */
export async function runExperiment(spec: ExperimentSpec, argv: string[] = Deno.args): Promise<ExperimentResult> {
  quietTfjsWarnings();
  exitWhenParentDies(); // a sweep's child stops when its sweep is gone (lib/parent_watch.ts)
  const cfg = configFromArgs(spec, argv);
  let backend;
  try {
    backend = await useBackend(cfg.backend);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(2);
  }
  const { reason } = parseOrExit(() => {
    cfg.threads = threadsOn(cfg.backend, tf.getBackend(), cfg.threads, flagGiven(argv, "threads")); // auto resolved
    return assertRunsHere(cfg);
  });
  const S = cfg.seeds.length;
  const name = cfg.name || spec.name;
  console.log(describeBackend(backend));
  console.log(
    `config: ${configLine({ experiment: name, ...cfg, name: "", seeds: compactSeeds(cfg.seeds), threads: "" })}`,
  );
  console.log(`kernel: ${reason}`);

  // The replicas, split over --threads workers (lib/threads.ts) or trained here. A raised --max-memory can still
  // ask for more than the machine has: the allocation fails catchably here, before any file is written.
  const progress = new Progress();
  const trainer = await replicaTrainer(cfg, cfg.threads, tf.getBackend() as BackendName, progress.enabled)
    .catch((err) =>
      parseOrExit(() => {
        if (!(err instanceof RangeError)) throw err;
        throw new UsageError(
          `the data of --seeds ${cfg.seeds.length} x --batch ${cfg.batch} x --series ${cfg.series} could not be ` +
            `allocated (${firstLine(err)}); lower those flags`,
        );
      })
    );
  const threads = Math.min(cfg.threads, S); // said here, not in the config line: it changes no result
  console.log(
    `model: ${cfg.cell} ${cfg.layers}x${cfg.hidden}, ${trainer.parameters} parameters, ${S} replica(s)` +
      (threads > 1 ? ` over ${threads} threads` : ""),
  );

  const runId = newRunId();
  const log = CsvLog.create(`${cfg.out}/${name}-${runId}.csv`, CSV_COLUMNS);
  const common = (r: number): Record<string, CsvValue> => ({
    experiment: name,
    run_id: runId,
    seed: cfg.seeds[r],
    backend: backend.name,
    kernel: trainer.recurrence,
    kernel_reason: reason,
    data_generator: DATA_GENERATOR,
    ...runCells(cfg),
    parameters: trainer.parameters,
  });
  const tag = (r: number) => (S > 1 ? `[seed ${cfg.seeds[r]}] ` : "");
  let alive: boolean[] = Array(S).fill(true);

  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    const t0 = performance.now();
    progress.begin(`epoch ${epoch}/${cfg.epochs}`);
    const res = await trainer.train((d, n, l, a) => progress.update(d, n, l, a));
    progress.end();
    alive = res.alive;
    const seconds = (performance.now() - t0) / 1000;
    const rows = cfg.seeds.map((_, r) => {
      const acc = (res.correct[r] / res.digits) * 100;
      if (alive[r]) {
        console.log(
          `${tag(r)}Train Epoch: ${epoch}/${cfg.epochs}, loss: ${res.loss[r].toFixed(3)}, accuracy ${pct(acc)}`,
        );
      } else console.log(`${tag(r)}Train Epoch: ${epoch}/${cfg.epochs}, diverged (loss not finite)`);
      return {
        ...common(r),
        phase: "train",
        epoch,
        train_loss: alive[r] ? res.loss[r] : "",
        train_acc: alive[r] ? +acc.toFixed(4) : "",
        status: alive[r] ? "ok" : "diverged",
        seconds: seconds.toFixed(3),
      };
    });
    log.append(...rows);
  }

  const t0 = performance.now();
  progress.begin("test");
  const test = await trainer.test((d, n, l, a) => progress.update(d, n, l, a));
  progress.end();
  const testAccuracy = test.correct.map((c) => (c / test.digits) * 100);
  testAccuracy.forEach((a, r) => console.log(`${tag(r)}Test accuracy: ${alive[r] ? pct(a) : "diverged"}`));

  // The notebook's 100-digit sequence, longer for a long echo: at least echoStep digits are checked past it.
  const checkLength = Math.max(100, 2 * cfg.echoStep);
  const checks = spec.echoCheck ? await trainer.echoCheck(checkLength) : null;
  if (checks) printEchoChecks(checks, cfg.seeds, tag, alive);
  log.append(...cfg.seeds.map((_, r) => ({
    ...common(r),
    phase: "test",
    epoch: cfg.epochs,
    test_acc: alive[r] ? +testAccuracy[r].toFixed(4) : "",
    echo_correct: checks && alive[r] ? checks[r].correct : "",
    status: alive[r] ? "ok" : "diverged",
    seconds: ((performance.now() - t0) / 1000).toFixed(3),
  })));

  const diverged = alive.map((a) => !a);
  const successes = testAccuracy.filter((a, r) => alive[r] && a >= SUCCESS_ACCURACY).length;
  console.log(`csv: ${log.path}`); // before the success rate, which is the last line (README)
  console.log(
    `success rate: ${successes}/${S} seeds reached >= ${SUCCESS_ACCURACY}% test accuracy` +
      (diverged.some(Boolean) ? `, ${diverged.filter(Boolean).length} diverged` : ""),
  );
  await trainer.dispose();
  return { config: cfg, csvPath: log.path, testAccuracy, diverged, successes };
}

function printEchoChecks(
  checks: EchoCheck[],
  seeds: number[],
  tag: (r: number) => string,
  alive: boolean[],
): void {
  if (seeds.length === 1 && alive[0]) {
    console.log("Input sequence:");
    console.log(checks[0].input.join(" "));
    console.log("Echoing sequence:");
    console.log(checks[0].output.join(" "));
  }
  checks.forEach((c, r) => {
    if (alive[r]) console.log(`${tag(r)}Number of correct echoing digits from the ${c.checked} : ${c.correct}`);
  });
}

/**
 * `experiment=echo3 seeds=5 epochs=5 echo_step=3 ...`: every field as
 * snake_case `key=value` in order, empty ones left out; a value with a space,
 * quote or `=` in it is JSON-quoted.
 */
function configLine(fields: Record<string, string | number | boolean>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => {
      const key = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), text = String(v);
      return `${key}=${/[\s"'=]/.test(text) ? JSON.stringify(text) : text}`;
    })
    .join(" ");
}

/** "1..64" for consecutive seeds, the list otherwise. */
function compactSeeds(seeds: number[]): string {
  const consecutive = seeds.every((s, i) => i === 0 || s === seeds[i - 1] + 1);
  return consecutive && seeds.length > 2 ? `${seeds[0]}..${seeds[seeds.length - 1]}` : seeds.join(",");
}
