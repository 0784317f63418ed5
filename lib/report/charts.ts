/**
 * The report's charts: the spec of each chart a section draws, the
 * learning-curve rows those specs plot, and rendering the specs to the SVG and
 * PNG files under results/charts/. Not for writing the files (the report
 * script does) or for the specs' design (lib/charts.ts).
 */
import { LEARNT, NOT_LEARNT, renderSvg, svgToPng, type TopLevelSpec } from "../charts.ts";
import { SUCCESS_ACCURACY } from "../experiment.ts";
import type { Row } from "../summary.ts";

/** A chart to publish as results/charts/`name`.svg and .png. */
export interface Chart {
  name: string;
  spec: TopLevelSpec;
}

/** The columns of an experiment row that a learning curve plots as numbers (empty cells stay ""). */
const NUMERIC = ["epoch", "train_acc", "test_acc", "seed"];

/**
 * Learning-curve rows: the experiment rows with their numeric columns as
 * numbers and each row's seed outcome ({@linkcode LEARNT} when that seed's
 * test accuracy reached {@linkcode SUCCESS_ACCURACY}), so the seeds that
 * learnt stay visible.
 */
export function learningCurveRows(rows: Row[]): Record<string, string | number>[] {
  const learnt = new Set(
    rows.filter((r) => r.phase === "test" && Number(r.test_acc) >= SUCCESS_ACCURACY).map((r) =>
      `${r.experiment}/${r.seed}`
    ),
  );
  return rows.map((r) => ({
    ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, NUMERIC.includes(k) && v !== "" ? Number(v) : v])),
    outcome: learnt.has(`${r.experiment}/${r.seed}`) ? LEARNT : NOT_LEARNT,
  }));
}

/**
 * Renders each chart, in order, to its two files: results/charts/NAME.svg
 * (text) and results/charts/NAME.png (bytes), keyed by path.
 */
export async function renderCharts(charts: Chart[]): Promise<Map<string, string | Uint8Array>> {
  const files = new Map<string, string | Uint8Array>();
  for (const { name, spec } of charts) {
    const svg = await renderSvg(spec);
    files.set(`results/charts/${name}.svg`, svg);
    files.set(`results/charts/${name}.png`, await svgToPng(svg));
  }
  return files;
}
