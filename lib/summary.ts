/**
 * Many-seed summaries of experiment CSVs: success rate with its Wilson 95%
 * interval, median and quartiles of final test accuracy, median epochs to
 * reach 99% train accuracy, diverged count, wall time.
 */
import { SUCCESS_ACCURACY } from "./experiment.ts";
import { parseCsv, readBoundedText } from "./readback.ts";
import { EXPERIMENT_CSV } from "./schemas.ts";
import { median, quantile, wilson } from "./stats.ts";

/** A row of an experiment CSV, as read back (all strings). */
export type Row = Record<string, string>;

/**
 * Reads every `*.csv` under `dir` (recursively) whose header names `run_id`
 * and `phase`, as an experiment log's does, checking each as
 * {@linkcode EXPERIMENT_CSV} says (a run still training, with no rows or no
 * test rows yet, is fine). Other CSVs (summaries) are skipped; an experiment
 * log that is not one this suite writes throws a {@linkcode ReadbackError}
 * naming the file and line.
 */
export function readRuns(dir: string): Row[] {
  const rows: Row[] = [];
  const walk = (d: string) => {
    for (const e of [...Deno.readDirSync(d)].sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".csv")) {
        const text = readBoundedText(path, EXPERIMENT_CSV.kind);
        const header = text.slice(0, text.indexOf("\n") < 0 ? text.length : text.indexOf("\n")).split(",");
        if (header.includes("run_id") && header.includes("phase")) {
          rows.push(...parseCsv(text, path, EXPERIMENT_CSV, 0).rows);
        }
      }
    }
  };
  walk(dir);
  return rows;
}

/**
 * Keeps, for each experiment name, the rows of its latest finished run (one
 * with test rows; run ids sort by time), or of its latest run if none finished.
 */
export function latestRuns(rows: Row[]): Row[] {
  const finished = new Set(rows.filter((r) => r.phase === "test").map((r) => r.run_id));
  const latest = new Map<string, string>();
  for (const r of rows) {
    const best = latest.get(r.experiment);
    const better = best === undefined ||
      (finished.has(r.run_id) === finished.has(best) ? r.run_id > best : finished.has(r.run_id));
    if (better) latest.set(r.experiment, r.run_id);
  }
  return rows.filter((r) => latest.get(r.experiment) === r.run_id);
}

/** One line of a summary table. */
export interface Summary {
  config: string;
  cell: string;
  hidden: number;
  layers: number;
  bptt: number;
  clip: number;
  optimizer: string;
  echo_step: number;
  epochs: number;
  parameters: number;
  /** Kernel the run logged (`fused` or `op`). */
  kernel: string;
  seeds: number;
  successes: number;
  success_rate: number;
  wilson_low: number;
  wilson_high: number;
  test_acc_q1: number;
  test_acc_median: number;
  test_acc_q3: number;
  /** Seeds whose train accuracy reached 99% in some epoch. */
  reached_99: number;
  /** Median first epoch at >= 99% train accuracy, over the seeds that reached it. */
  epochs_to_99_median: number;
  diverged: number;
  wall_seconds: number;
}

/** Summarises the rows of one run per experiment name, in first-seen order. */
export function summarise(rows: Row[]): Summary[] {
  const names = [...new Set(rows.map((r) => r.experiment))];
  return names.map((config) => {
    const mine = rows.filter((r) => r.experiment === config);
    const tests = mine.filter((r) => r.phase === "test");
    const train = mine.filter((r) => r.phase === "train");
    const ok = tests.filter((r) => r.status === "ok");
    const acc = ok.map((r) => Number(r.test_acc));
    const successes = acc.filter((a) => a >= SUCCESS_ACCURACY).length;
    const n = tests.length;
    const [lo, hi] = n ? wilson(successes, n) : [NaN, NaN];
    const reached = tests.map((t) => {
      const hit = train.filter((r) => r.seed === t.seed && Number(r.train_acc) >= SUCCESS_ACCURACY);
      return hit.length ? Math.min(...hit.map((r) => Number(r.epoch))) : NaN;
    }).filter((e) => !Number.isNaN(e));
    const epochSeconds = new Map<string, number>();
    for (const r of mine) epochSeconds.set(`${r.phase}:${r.epoch}`, Number(r.seconds));
    const first = mine[0];
    return {
      config,
      cell: first.cell,
      hidden: Number(first.hidden),
      layers: Number(first.layers),
      bptt: Number(first.bptt),
      clip: Number(first.clip),
      optimizer: first.optimizer,
      echo_step: Number(first.echo_step),
      epochs: Number(first.epochs),
      parameters: Number(first.parameters),
      kernel: first.kernel ?? "",
      seeds: n,
      successes,
      success_rate: n ? successes / n : NaN,
      wilson_low: lo,
      wilson_high: hi,
      test_acc_q1: quantile(acc, 0.25),
      test_acc_median: median(acc),
      test_acc_q3: quantile(acc, 0.75),
      reached_99: reached.length,
      epochs_to_99_median: median(reached),
      diverged: tests.filter((r) => r.status === "diverged").length,
      wall_seconds: Math.round([...epochSeconds.values()].reduce((a, b) => a + b, 0) * 10) / 10,
    };
  });
}

const fmt = (x: number, digits = 1) => (Number.isNaN(x) ? "-" : x.toFixed(digits));

/** The summary as a Markdown table. */
export function summaryMarkdown(rows: Summary[]): string {
  const head =
    "| config | params | kernel | T | success | 95% CI | test acc median [q1, q3] | epochs to 99% (seeds) | diverged | wall |\n" +
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  return head +
    rows.map((s) =>
      `| ${s.config} | ${fmt(s.parameters, 0)} | ${s.kernel} | ${s.bptt} | ${s.successes}/${s.seeds} | ${
        fmt(100 * s.wilson_low, 0)
      }-${fmt(100 * s.wilson_high, 0)}% | ${fmt(s.test_acc_median)} [${fmt(s.test_acc_q1)}, ${fmt(s.test_acc_q3)}] | ${
        fmt(s.epochs_to_99_median, 1)
      } (${s.reached_99}) | ${s.diverged} | ${fmt(s.wall_seconds / 60, 1)} min |`
    ).join("\n") + "\n";
}
