/**
 * Rebuilds every chart and results/README.md from the CSVs under results/,
 * without training anything.
 *
 *   deno task report
 */
import { parse } from "csv-parse/sync";
import {
  capacityHeatmapSpec,
  gradientLagSpec,
  learningCurvesSpec,
  successBarsSpec,
  writeChart,
} from "../lib/charts.ts";
import { latestRuns, readRuns, type Row, summarise, type Summary, summaryMarkdown } from "../lib/summary.ts";
import { capacities, type ShardRow } from "../lib/capacity.ts";
import { CsvLog } from "../lib/csv_log.ts";
import { MEMORY_ORDER } from "../lib/memory_configs.ts";

const RESULTS = "results";
const CHARTS = `${RESULTS}/charts`;
Deno.mkdirSync(CHARTS, { recursive: true });

const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};
const csvFiles = (dir: string, prefix: string) =>
  exists(dir)
    ? [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.startsWith(prefix) && e.name.endsWith(".csv")).map((
      e,
    ) => `${dir}/${e.name}`).sort()
    : [];
const readCsv = (path: string) => parse(Deno.readTextFileSync(path), { columns: true }) as Row[];
const num = (rows: Row[], keys: string[]) =>
  rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, keys.includes(k) && v !== "" ? Number(v) : v]))
  );
const sections: string[] = [];
const chartLine = (base: string, alt: string) =>
  `![${alt}](charts/${base}.svg)\n\n(PNG: [charts/${base}.png](charts/${base}.png))`;

// 1. The notebook's experiments: latest run of each, one panel per experiment.
const notebookRows = latestRuns(
  readRuns(RESULTS).filter((r) => ["echo3", "echo10-h4", "echo10-h60", "echo10-deep"].includes(r.experiment)),
);
let notebookSummary: Summary[] = [];
if (notebookRows.length) {
  notebookSummary = summarise(notebookRows);
  await writeChart(
    `${CHARTS}/notebook-learning-curves`,
    learningCurvesSpec(
      num(notebookRows, ["epoch", "train_acc", "test_acc", "seed"]),
      "The notebook's experiments: train accuracy per epoch, one line per seed (red: test)",
    ),
  );
  sections.push(
    `## The notebook's experiments\n\nThe latest finished run of each notebook script in this folder: echo3 over 20 seeds with the fused kernels; the echo-10 runs here used the op-level kernels, before the fused ones existed. \`exp:memory\` below repeats them with 20 seeds each (rnn-h4, rnn-h60, rnn-6x60).\n\n${
      summaryMarkdown(notebookSummary)
    }\n${chartLine("notebook-learning-curves", "learning curves")}\n`,
  );
}

// 2. exp:memory.
const memoryRows = exists(`${RESULTS}/memory`) ? latestRuns(readRuns(`${RESULTS}/memory`)) : [];
let memory: Summary[] = [];
if (memoryRows.length) {
  memory = summarise(memoryRows).sort((a, b) => MEMORY_ORDER.indexOf(a.config) - MEMORY_ORDER.indexOf(b.config));
  const path = `${RESULTS}/memory/summary.csv`;
  if (exists(path)) Deno.removeSync(path);
  CsvLog.create(path, Object.keys(memory[0])).append(...memory.map((s) => ({ ...s })));
  Deno.writeTextFileSync(`${RESULTS}/memory/summary.md`, summaryMarkdown(memory));
  await writeChart(
    `${CHARTS}/memory-success`,
    successBarsSpec(memory.map((s) => ({ ...s })), "Echo 10: success rate per remedy with its Wilson 95% interval"),
  );
  await writeChart(
    `${CHARTS}/memory-learning-curves`,
    learningCurvesSpec(
      num(memoryRows, ["epoch", "train_acc", "test_acc", "seed"]),
      "Echo 10: train accuracy per epoch, one line per seed (red: test)",
      MEMORY_ORDER,
    ),
  );
  sections.push(
    `## How can we improve the long-term memory of an RNN? (\`deno task exp:memory\`)\n\nEcho 10, the notebook's data (batch 5, series 20,000, T 20) and optimizer (RMSprop, lr 0.001), 20 epochs, ${
      memory[0].seeds
    } seeds per configuration. Success: test accuracy >= 99%. Wall time is for all seeds of a configuration together (replicas train batched in one process; two processes ran at once).\n\n${
      summaryMarkdown(memory)
    }\n${chartLine("memory-success", "success rates")}\n\n${chartLine("memory-learning-curves", "learning curves")}\n`,
  );
}

// 3. exp:gradients: mean over seeds per cell, phase and lag.
const gradFiles = csvFiles(`${RESULTS}/gradients`, "gradients-");
if (gradFiles.length) {
  const rows = readCsv(gradFiles[gradFiles.length - 1]);
  const groups = new Map<string, { cell: string; phase: string; lag: number; sum: number; n: number }>();
  for (const r of rows) {
    const key = `${r.cell}/${r.phase}/${r.lag}`;
    const g = groups.get(key) ?? { cell: r.cell, phase: r.phase, lag: Number(r.lag), sum: 0, n: 0 };
    g.sum += Number(r.mean_abs_grad);
    g.n++;
    groups.set(key, g);
  }
  const data = [...groups.values()].map((g) => ({
    cell: g.cell,
    phase: g.phase,
    lag: g.lag,
    mean_abs_grad: g.sum / g.n,
  }));
  await writeChart(
    `${CHARTS}/gradient-by-lag`,
    gradientLagSpec(data, `How far back the loss reaches (echo ${rows[0].echo_step}, H ${rows[0].hidden})`),
  );
  const at = (cell: string, phase: string, lag: number) =>
    data.find((d) => d.cell === cell && d.phase === phase && d.lag === lag)?.mean_abs_grad ?? NaN;
  const cells = [...new Set(data.map((d) => d.cell))];
  const accs = new Map(
    cells.map((c) => [
      c,
      rows.filter((r) => r.cell === c && r.phase === "trained" && r.lag === "0").map((r) => Number(r.test_acc)),
    ]),
  );
  const table =
    "| cell | init: lag 0 | init: lag 10 | init: lag 20 | trained: lag 0 | trained: lag 10 | trained: lag 20 | test acc after training |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
    cells.map((c) =>
      `| ${c} | ${[0, 10, 20].map((k) => at(c, "init", k).toExponential(1)).join(" | ")} | ${
        [0, 10, 20].map((k) => at(c, "trained", k).toExponential(1)).join(" | ")
      } | ${accs.get(c)!.map((a) => a.toFixed(1)).join(", ")} |`
    ).join("\n");
  sections.push(
    `## Why the plain RNN forgets (\`deno task exp:gradients\`)\n\nMean |d loss_t / d x_(t-k)| over a batch of random sequences, averaged over seeds: how much the loss at step t can still learn from the input k steps back.\n\n${table}\n\n${
      chartLine("gradient-by-lag", "gradient against lag")
    }\n`,
  );
}

// 4. exp:capacity, once merged.
if (exists(`${RESULTS}/capacity/capacity.csv`)) {
  const rows = readCsv(`${RESULTS}/capacity/capacity.csv`) as unknown as ShardRow[];
  const caps = capacities(rows);
  await writeChart(
    `${CHARTS}/capacity`,
    capacityHeatmapSpec(caps, "Largest echo step learnt by at least half the seeds"),
  );
  sections.push(
    `## Memory capacity (\`deno task exp:capacity\`, merged with \`deno task merge\`)\n\nGrid: ${
      [...new Set(rows.map((r) => r.cell))].join(", ")
    } x hidden ${[...new Set(rows.map((r) => r.hidden))].join(", ")}, echo 1..${
      Math.max(...rows.map((r) => Number(r.echo_step)))
    }, ${rows[0].seeds} seeds, ${rows[0].epochs} epochs, T ${rows[0].bptt}.\n\n${
      chartLine("capacity", "capacity heatmap")
    }\n`,
  );
}

// 5. The latest benchmark.
const bench = csvFiles(RESULTS, "bench-");
if (bench.length) {
  const rows = readCsv(bench[bench.length - 1]);
  const table =
    "| implementation | backend | model | replicas | ms / step | replicas x steps / s | vs PyTorch |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n" +
    rows.map((r) =>
      `| ${r.impl} | ${r.backend} | ${r.model} | ${r.replicas} | ${r.ms_per_step} | ${r.replica_steps_per_s} | ${r.ratio_to_torch} |`
    ).join("\n");
  sections.push(`## Speed (\`deno task bench\`, ${bench[bench.length - 1].replace(`${RESULTS}/`, "")})\n\n${table}\n`);
}

const findings = exists(`${RESULTS}/findings.md`) ? Deno.readTextFileSync(`${RESULTS}/findings.md`) : "";
const readme = `# Results

Generated by \`deno task report\` from the CSVs in this folder; do not edit by hand (the prose is in
[findings.md](findings.md)). Every number comes from a committed CSV.

${findings}
${sections.join("\n")}`;
Deno.writeTextFileSync(`${RESULTS}/README.md`, readme);
console.log(`wrote ${RESULTS}/README.md and ${[...Deno.readDirSync(CHARTS)].length} chart files in ${CHARTS}/`);
