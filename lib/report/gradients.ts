/**
 * exp:gradients in the findings: why the plain RNN forgets. The mean over
 * seeds of |d loss_t / d x_(t-k)| per cell, phase (init, trained) and lag k,
 * its table, chart and the template fields `grad.*`. Not for measuring the
 * gradients (lib/gradients.ts and experiments/gradients.ts do).
 */
import { gradientLagSpec } from "../charts.ts";
import { SUCCESS_ACCURACY } from "../experiment.ts";
import type { Row } from "../summary.ts";
import type { Chart } from "./charts.ts";
import { chartLine, f1, type Fields, fold, list, sci } from "./format.ts";

/** The mean over seeds of one cell's gradient at one lag, in one phase. */
export type LagMean = {
  cell: string;
  phase: string;
  lag: number;
  mean_abs_grad: number;
};

/** exp:gradients, summarised. */
export interface GradientsReport {
  fields: Fields;
  charts: Chart[];
  /** Its section of results/README.md. */
  markdown: string;
}

/** The mean over seeds of `mean_abs_grad` per cell, phase and lag, in the order each first appears in `rows`. */
export function meanByLag(rows: Row[]): LagMean[] {
  const groups = new Map<string, { cell: string; phase: string; lag: number; values: number[] }>();
  for (const r of rows) {
    const key = `${r.cell}/${r.phase}/${r.lag}`;
    const g = groups.get(key) ?? { cell: r.cell, phase: r.phase, lag: Number(r.lag), values: [] };
    g.values.push(Number(r.mean_abs_grad));
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({
    cell: g.cell,
    phase: g.phase,
    lag: g.lag,
    mean_abs_grad: g.values.reduce((a, b) => a + b, 0) / g.values.length,
  }));
}

/**
 * exp:gradients from its CSV's rows: per cell the gradient at lags 0, 10, 20
 * and the largest, before and after training, how many times weaker it is 10,
 * 20 and the most steps back at init, the lag where it peaks after training
 * and each seed's test accuracy; which cells learnt.
 */
export function gradientsReport(rows: Row[]): GradientsReport {
  const grad = meanByLag(rows);
  const g0 = rows.find((r) => r.phase === "trained") ?? rows[0];
  const seeds = new Set(rows.map((r) => r.seed)).size;
  const at = (cell: string, phase: string, lag: number) =>
    grad.find((d) => d.cell === cell && d.phase === phase && d.lag === lag)?.mean_abs_grad ?? NaN;
  const cells = [...new Set(grad.map((d) => d.cell))];
  const maxLag = Math.max(...grad.map((d) => d.lag));
  const accs = (c: string) =>
    rows.filter((r) => r.cell === c && r.phase === "trained" && r.lag === "0").map((r) => Number(r.test_acc));
  const peak = (c: string, phase: string) =>
    grad.filter((d) => d.cell === c && d.phase === phase && d.lag > 0).reduce((a, b) =>
      b.mean_abs_grad > a.mean_abs_grad ? b : a
    ).lag;
  const fields: Fields = {};
  for (const c of cells) {
    for (const k of [0, 10, 20, maxLag]) {
      fields[`grad.${c}.init.${k}`] = sci(at(c, "init", k));
      fields[`grad.${c}.trained.${k}`] = sci(at(c, "trained", k));
    }
    fields[`grad.${c}.fold10`] = fold(at(c, "init", 0) / at(c, "init", 10));
    fields[`grad.${c}.fold20`] = fold(at(c, "init", 0) / at(c, "init", 20));
    fields[`grad.${c}.foldMax`] = f1(at(c, "init", 0) / at(c, "init", maxLag));
    fields[`grad.${c}.peak`] = peak(c, "trained");
    fields[`grad.${c}.acc`] = accs(c).map((a) => `${f1(a)}%`).join(", ");
  }
  const learntCells = cells.filter((c) => accs(c).every((a) => a >= SUCCESS_ACCURACY));
  fields["grad.learnt"] = list(learntCells.map((c) => c.toUpperCase()));
  fields["grad.learntPeaks"] = [...new Set(learntCells.map((c) => peak(c, "trained")))].join(", ");
  fields["grad.seeds"] = seeds;
  fields["grad.hidden"] = g0.hidden;
  fields["grad.echo"] = g0.echo_step;
  fields["grad.epochs"] = g0.epochs_trained;
  fields["grad.maxLag"] = maxLag;
  const chart: Chart = {
    name: "gradient-by-lag",
    spec: gradientLagSpec(
      grad,
      `How far back the loss reaches (echo ${g0.echo_step}, H ${g0.hidden}, mean of ${seeds} seeds; trained: ${g0.epochs_trained} epochs)`,
    ),
  };
  const table =
    "| cell | init: lag 0 | init: lag 10 | init: lag 20 | trained: lag 0 | trained: lag 10 | trained: lag 20 | test acc after training |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
    cells.map((c) =>
      `| ${c} | ${[0, 10, 20].map((k) => sci(at(c, "init", k))).join(" | ")} | ${
        [0, 10, 20].map((k) => sci(at(c, "trained", k))).join(" | ")
      } | ${fields[`grad.${c}.acc`]} |`
    ).join("\n");
  const markdown =
    `## Why the plain RNN forgets (\`deno task exp:gradients\`)\n\nMean |d loss_t / d x_(t-k)| per sequence, over a batch of random sequences and ${seeds} seeds (H ${g0.hidden}, echo ${g0.echo_step}; trained: ${g0.epochs_trained} epochs): how much the loss at step t can still learn from the input k steps back.\n\n${table}\n\n${
      chartLine("gradient-by-lag", "gradient against lag")
    }\n`;
  return { fields, charts: [chart], markdown };
}
