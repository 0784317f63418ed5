/**
 * exp:memory in the findings: which remedy lets an RNN remember 10 steps.
 * The summary table (results/memory/summary.{csv,md}), its section of
 * results/README.md with two charts, the template fields of each
 * configuration (success, interval, cost against the plain RNN H60, what
 * clipping changes, the IRNN's train accuracy) and the README's memory-wall
 * block. Not for the op-level kernel comparison (kernels.ts) or the notebook's
 * table, although that shows some of these runs.
 */
import { stringify } from "csv-stringify/sync";
import { learningCurvesSpec, successBarsSpec } from "../charts.ts";
import { formatCsvValue } from "../csv_log.ts";
import { SUCCESS_ACCURACY } from "../experiment.ts";
import { MEMORY_ORDER } from "../memory_configs.ts";
import { median } from "../stats.ts";
import { type Row, summarise, type Summary, summaryMarkdown } from "../summary.ts";
import { type Chart, learningCurveRows } from "./charts.ts";
import { ReportError } from "./error.ts";
import { chartLine, f1, type Fields, int, list, pct0 } from "./format.ts";

/** exp:memory, summarised. */
export interface MemoryReport {
  /** Every run's rows. */
  rows: Row[];
  /** One line per configuration, in {@linkcode MEMORY_ORDER}. */
  summary: Summary[];
  fields: Fields;
  charts: Chart[];
  /** results/memory/summary.csv and summary.md, by path. */
  files: Record<string, string>;
  /** Its section of results/README.md. */
  markdown: string;
}

/** Each seed's final test accuracy in `rows` (their test rows), by seed. */
export function finalAccuracies(rows: Row[]): Map<string, number> {
  return new Map(rows.filter((r) => r.phase === "test").map((r) => [r.seed, Number(r.test_acc)]));
}

/** The seeds (as numbers) whose final test accuracy reached {@linkcode SUCCESS_ACCURACY}. */
export function seedsThatLearnt(finals: Map<string, number>): number[] {
  return [...finals].filter(([, a]) => a >= SUCCESS_ACCURACY).map(([s]) => Number(s));
}

/**
 * The summary line of configuration `config`, or a {@linkcode ReportError}
 * naming `where` (the manifest) when it has no run.
 */
export function memoryConfig(summary: Summary[], config: string, where: string): Summary {
  const s = summary.find((m) => m.config === config);
  if (!s) throw new ReportError(`${where}: no exp:memory run of ${config}`);
  return s;
}

/**
 * The template fields of exp:memory from its summary and rows: per
 * configuration its success count, Wilson interval, median and quartiles of
 * test accuracy, epochs to 99%, parameters, wall time and kernel; the gated
 * and deep models' cost against the RNN H60; which seeds clipping changes;
 * the IRNN's median train accuracy at epochs 5, 15 and the last.
 */
export function memoryFields(summary: Summary[], rows: Row[], where: string): Fields {
  const fields: Fields = {};
  for (const s of summary) {
    fields[`${s.config}.success`] = `${s.successes}/${s.seeds}`;
    fields[`${s.config}.ci`] = `${pct0(s.wilson_low)}-${pct0(s.wilson_high)}%`;
    fields[`${s.config}.median`] = `${f1(s.test_acc_median)}%`;
    fields[`${s.config}.iqr`] = `[${f1(s.test_acc_q1)}, ${f1(s.test_acc_q3)}]`;
    fields[`${s.config}.epochs99`] = f1(s.epochs_to_99_median).replace(/\.0$/, "");
    fields[`${s.config}.params`] = int(s.parameters);
    fields[`${s.config}.wall`] = `${f1(s.wall_seconds / 60)} min`;
    fields[`${s.config}.kernel`] = s.kernel;
  }
  const epochs = summary[0].epochs;
  fields["memory.seeds"] = summary[0].seeds;
  fields["memory.epochs"] = epochs;
  fields["memory.echo"] = summary[0].echo_step;
  // One generator for every run (lib/report/inputs.ts refuses a mix).
  fields["memory.data"] = `\`${rows[0].data_generator}\``;
  fields["memory.ciHalf"] = (50 * summary.reduce((a, s) => a + s.wilson_high - s.wilson_low, 0) / summary.length)
    .toFixed(0);
  const base = memoryConfig(summary, "rnn-h60", where);
  for (const c of ["lstm-h60", "gru-h60", "rnn-6x60"]) {
    fields[`${c}.paramsRatio`] = `${f1(memoryConfig(summary, c, where).parameters / base.parameters)}x`;
    fields[`${c}.wallRatio`] = `${f1(memoryConfig(summary, c, where).wall_seconds / base.wall_seconds)}x`;
  }
  // Clipping: which seeds succeed with and without it, and how far final accuracies move.
  const finals = (config: string) => finalAccuracies(rows.filter((r) => r.experiment === config));
  const clip = finals("rnn-h60-clip1"), plain = finals("rnn-h60");
  const wClip = seedsThatLearnt(clip), wPlain = seedsThatLearnt(plain);
  fields["clip.seeds"] = wClip.join() === wPlain.join()
    ? `the same ${wClip.length} seeds (${list(wClip)}) succeed with and without it`
    : `seeds ${list(wClip)} succeed with it and ${list(wPlain)} without`;
  fields["clip.maxDiff"] = f1(Math.max(...[...clip].map(([s, a]) => Math.abs(a - plain.get(s)!))));
  // IRNN: median train accuracy as training goes on.
  const trainMedian = (config: string, epoch: number) =>
    median(
      rows.filter((r) => r.experiment === config && r.phase === "train" && Number(r.epoch) === epoch).map((r) =>
        Number(r.train_acc)
      ),
    );
  for (const e of [5, 15, epochs]) fields[`irnn-h60.train.e${e}`] = `${f1(trainMedian("irnn-h60", e))}%`;
  return fields;
}

/**
 * exp:memory from its runs (`runs`: one per configuration), `where` naming
 * the manifest in a refusal.
 */
export function memoryReport(runs: Row[][], where: string): MemoryReport {
  const rows = runs.flat();
  const summary = summarise(rows).sort((a, b) => MEMORY_ORDER.indexOf(a.config) - MEMORY_ORDER.indexOf(b.config));
  const { echo_step: echo, epochs, seeds } = summary[0];
  const charts: Chart[] = [
    {
      name: "memory-success",
      spec: successBarsSpec(
        summary.map((s) => ({ ...s })),
        `Echo ${echo}: success rate per remedy (${seeds} seeds, ${epochs} epochs each), Wilson 95% interval`,
      ),
    },
    {
      name: "memory-learning-curves",
      spec: learningCurvesSpec(
        learningCurveRows(rows),
        `Echo ${echo}: train accuracy per epoch, one line per seed (${seeds} seeds, ${epochs} epochs); red points: test`,
        MEMORY_ORDER,
      ),
    },
  ];
  const files = {
    "results/memory/summary.csv": stringify([
      Object.keys(summary[0]),
      ...summary.map((s) => Object.values(s).map(formatCsvValue)),
    ]),
    "results/memory/summary.md": summaryMarkdown(summary),
  };
  const r0 = rows[0];
  const markdown =
    `## How can we improve the long-term memory of an RNN? (\`deno task exp:memory\`)\n\nEcho ${echo}, the notebook's data (batch ${r0.batch}, series ${r0.series}, T ${r0.bptt} unless the config says otherwise) and optimizer (${r0.optimizer}, lr ${r0.lr}), ${epochs} epochs, ${seeds} seeds per configuration, kernels: ${
      [...new Set(summary.map((s) => s.kernel))].join(", ")
    }. Success: test accuracy >= ${SUCCESS_ACCURACY}%. Wall: the epoch times the run logged, all seeds of a configuration training together in one process.\n\n${
      summaryMarkdown(summary)
    }\n${chartLine("memory-success", "success rates")}\n\n${chartLine("memory-learning-curves", "learning curves")}\n`;
  return { rows, summary, fields: memoryFields(summary, rows, where), charts, files, markdown };
}

/** The README's memory-wall block: the training time exp:memory logged, in all and for its slowest configuration. */
export function memoryWall(summary: Summary[]): string {
  const minutes = summary.reduce((a, s) => a + s.wall_seconds, 0) / 60;
  const slowest = summary.reduce((a, b) => (b.wall_seconds > a.wall_seconds ? b : a));
  return `In the committed run, \`exp:memory\` (${summary.length} configurations x ${summary[0].seeds} seeds x ${
    summary[0].epochs
  } epochs) logged ${
    f1(minutes)
  } min of training summed over configurations (they run as parallel processes, so the wall clock is shorter); the ${slowest.config} alone took ${
    f1(slowest.wall_seconds / 60)
  } min.`;
}
