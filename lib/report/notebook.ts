/**
 * The notebook's experiments (echo3, echo10-h4, echo10-h60, echo10-deep):
 * their section of results/README.md with its learning-curve chart, and the
 * README blocks that compare them with what the notebook printed
 * (experiments-table) and show an echo3 run's log (sample-output). Not for
 * exp:memory's findings, although the echo-10 rows are its runs.
 */
import { learningCurvesSpec } from "../charts.ts";
import { SUCCESS_ACCURACY } from "../experiment.ts";
import { median, quantile } from "../stats.ts";
import { type Row, summarise, type Summary, summaryMarkdown } from "../summary.ts";
import { type Chart, learningCurveRows } from "./charts.ts";
import { chartLine, f1, f2, list } from "./format.ts";
import { NOTEBOOK_ORDER } from "./manifest.ts";

/** The notebook's experiments, summarised. */
export interface NotebookReport {
  /** Every run's rows, each with `experiment` set to its notebook name, in notebook order. */
  rows: Row[];
  /** One line per notebook experiment. */
  summary: Summary[];
  charts: Chart[];
  /** Its section of results/README.md. */
  markdown: string;
}

/**
 * The notebook's experiments from each one's run (`runs`, by notebook name)
 * and the paths the manifest names them by (`paths`, shown in the section).
 */
export function notebookReport(runs: Record<string, Row[]>, paths: Record<string, string>): NotebookReport {
  const rows = NOTEBOOK_ORDER.flatMap((name) => runs[name].map((r) => ({ ...r, experiment: name })));
  const summary = summarise(rows);
  const curves: Chart = {
    name: "notebook-learning-curves",
    spec: learningCurvesSpec(
      learningCurveRows(rows),
      `The notebook's experiments: train accuracy per epoch, one line per seed (${
        summary.map((s) => `${s.config}: ${s.seeds} seeds, ${s.epochs} epochs`).join("; ")
      }); red points: test`,
      NOTEBOOK_ORDER,
    ),
  };
  const markdown = `## The notebook's experiments\n\nThe runs the manifest names: ${
    NOTEBOOK_ORDER.map((n) => `${n} \`${paths[n]}\``).join(", ")
  } (the echo-10 models are \`exp:memory\`'s runs of the same configurations).\n\n${summaryMarkdown(summary)}\n${
    chartLine("notebook-learning-curves", "learning curves")
  }\n`;
  return { rows, summary, charts: [curves], markdown };
}

/**
 * The README's experiments-table block: each notebook experiment's success
 * count beside what the notebook printed, with exp:parity's comparison with
 * the notebook's PyTorch code (`parity`: its summary rows) where it ran the
 * same configuration.
 */
export function experimentsTable(notebook: Pick<NotebookReport, "rows" | "summary">, parity: Row[]): string {
  const nb = (name: string) => notebook.summary.find((s) => s.config === name)!;
  const finalTests = (config: string) => notebook.rows.filter((r) => r.experiment === config && r.phase === "test");
  const successSeeds = (config: string) =>
    finalTests(config).filter((r) => Number(r.test_acc) >= SUCCESS_ACCURACY).map((r) => r.seed);
  const stalled = (config: string) =>
    finalTests(config).filter((r) => Number(r.test_acc) < SUCCESS_ACCURACY).map((r) => Number(r.test_acc));
  const torchNote = (config: string) => {
    const t = parity.find((p) => p.config === config && p.mode === "regen" && p.side === "torch");
    const e = parity.find((p) => p.config === config && p.mode === "regen" && p.side === "echolab");
    return t && e
      ? `; \`exp:parity\` over ${e.n} seeds: echolab ${e.successes}/${e.n}, the notebook's PyTorch code ${t.successes}/${t.n} (Fisher p ${
        f2(Number(e.fisher_p))
      })`
      : "";
  };
  const measured = (name: string) => {
    const s = nb(name);
    return `${s.successes}/${s.seeds} (median test ${f1(s.test_acc_median)}%)`;
  };
  const e3 = nb("echo3");
  const st = stalled("echo3");
  return [
    "| task                    | notebook cells | model                     | notebook printed   | this suite measured (seeds reaching >= 99% test accuracy) |",
    "| ----------------------- | -------------- | ------------------------- | ------------------ | --------------------------------------------------------- |",
    "| `deno task exp:data`    | 2-6            | data preview              | sizes, first steps | same semantics; our own counter-based generator, so other bits |",
    `| \`deno task exp:echo3\`   | 11-16          | RNN H 4, echo 3, ${e3.epochs} epochs | test 100.0%        | ${e3.successes}/${e3.seeds} (seeds ${
      list(successSeeds("echo3"))
    }; the others stall at a median ${f1(median(st))}% [${f1(quantile(st, 0.25))}, ${f1(quantile(st, 0.75))}])${
      torchNote("echo3-rnn-h4")
    } |`,
    `| \`exp:echo10-h4\`         | 17-19          | RNN H 4, echo 10, ${
      nb("echo10-h4").epochs
    }      | test 49.9%         | ${measured("echo10-h4")}${torchNote("echo10-rnn-h4")} |`,
    `| \`exp:echo10-h60\`        | 20-21          | RNN H 60, echo 10, ${
      nb("echo10-h60").epochs
    }     | test 49.8%         | ${measured("echo10-h60")}${torchNote("echo10-rnn-h60")} |`,
    `| \`exp:echo10-deep\`       | 22-24          | RNN 6 x 60, echo 10, ${
      nb("echo10-deep").epochs
    }   | test 49.8%         | ${measured("echo10-deep")} |`,
    "| `deno task exp:all`     |                | all of the above          |                    |                                                           |",
  ].join("\n");
}

/**
 * The README's sample-output block: an echo3 run's log (`run`: its rows) as
 * the notebook prints it, and where it came from (`path`, relative to results/).
 */
export function sampleOutput(run: Row[], path: string): string {
  const train = run.filter((r) => r.phase === "train"), test = run.find((r) => r.phase === "test")!;
  return [
    "```",
    ...train.map((r) =>
      `Train Epoch: ${r.epoch}/${r.epochs}, loss: ${Number(r.train_loss).toFixed(3)}, accuracy ${
        Number(r.train_acc).toFixed(1)
      }%`
    ),
    `Test accuracy: ${Number(test.test_acc).toFixed(1)}%`,
    `Number of correct echoing digits from the ${
      Math.max(100, 2 * Number(test.echo_step)) - Number(test.echo_step)
    } : ${test.echo_correct}`,
    "```",
    "",
    `(seed ${test.seed}, backend ${test.backend}, kernel ${test.kernel}, data ${test.data_generator}: ` +
    `\`results/${path}\`)`,
  ].join("\n");
}
