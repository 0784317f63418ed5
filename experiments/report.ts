/**
 * Rebuilds everything this suite publishes from the runs that
 * results/manifest.json names, without training anything: results/README.md
 * (with the prose of results/findings.template.md, its numbers filled from the
 * CSVs), the charts, results/memory/summary.{csv,md} and the generated blocks
 * of README.md. Runs that the manifest does not name are never read, so a
 * user's own runs change nothing published. Each part is computed in
 * lib/report/ (one module per section); this script reads, computes, writes.
 *
 *   deno task report [--out DIR] [--manifest FILE]
 *
 * `--out DIR` writes the same files under DIR instead of in place (a test
 * compares that output with what is committed).
 */
import { assertWritable, parseFlags, parseOrExit } from "../lib/cli.ts";
import { writeFileAtomic } from "../lib/durable.ts";
import { runFlagsBlock } from "../lib/report/flags.ts";
import { replaceBlocks } from "../lib/template.ts";
import { benchReport } from "../lib/report/bench.ts";
import { capacityReport } from "../lib/report/capacity.ts";
import { renderCharts } from "../lib/report/charts.ts";
import { ReportError } from "../lib/report/error.ts";
import { gradientsReport } from "../lib/report/gradients.ts";
import { readInputs } from "../lib/report/inputs.ts";
import { kernelFields } from "../lib/report/kernels.ts";
import { readManifest } from "../lib/report/manifest.ts";
import { memoryReport, memoryWall } from "../lib/report/memory.ts";
import { experimentsTable, notebookReport, sampleOutput } from "../lib/report/notebook.ts";
import { parityReport } from "../lib/report/parity.ts";
import { FINDINGS_TEMPLATE, mergeFields, resultsReadme } from "../lib/report/render.ts";

const USAGE = `usage: deno task report [--out DIR] [--manifest FILE]

Rebuilds results/README.md, results/charts/, results/memory/summary.{csv,md} and the
generated blocks of README.md from the runs results/manifest.json names. Trains nothing.

  --out DIR        write under DIR instead of in place (default: .)
  --manifest FILE  the list of published runs (default: results/manifest.json)`;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseOrExit(() =>
    parseFlags(Deno.args, { out: { type: "string" }, manifest: { type: "string" }, help: { type: "boolean" } }).values
  );
  if (args.help) {
    console.log(USAGE);
    return;
  }
  // In place (no --out) writes what the task allows; a folder given is checked before any work.
  const out = args.out === undefined ? "." : parseOrExit(() => assertWritable("--out", args.out!, "report"));
  const manifestPath = args.manifest ?? "results/manifest.json";
  const manifest = readManifest(manifestPath);
  const inputs = readInputs(manifest, manifestPath); // every CSV checked before anything is computed

  const notebook = notebookReport(inputs.notebook, manifest.notebook);
  const memory = memoryReport(inputs.memory, manifestPath);
  const kernels = kernelFields(memory, inputs.kernelComparison, manifestPath);
  const gradients = gradientsReport(inputs.gradients);
  const capacity = capacityReport(inputs.capacity);
  const parity = parityReport(inputs.parity, `results/${manifest.parity}/summary.csv`);
  const bench = benchReport(inputs.bench, manifest.bench);

  const fields = mergeFields(memory.fields, kernels, gradients.fields, capacity.fields, parity.fields);
  const sections = [notebook, memory, gradients, capacity, parity, bench].map((s) => s.markdown);
  const blocks = {
    "experiments-table": experimentsTable(notebook, inputs.parity),
    "sample-output": sampleOutput(inputs.echo3Default, manifest.echo3Default),
    "memory-wall": memoryWall(memory.summary),
    "run-flags": runFlagsBlock(),
    ...bench.blocks,
  };
  const files = new Map<string, string | Uint8Array>([
    ...await renderCharts([...notebook.charts, ...memory.charts, ...gradients.charts, ...capacity.charts]),
    ...Object.entries(memory.files),
    ["results/README.md", resultsReadme(Deno.readTextFileSync(FINDINGS_TEMPLATE), fields, sections)],
    ["README.md", replaceBlocks(Deno.readTextFileSync("README.md"), blocks, "README.md")],
  ]);

  for (const [path, content] of files) {
    const to = `${out}/${path}`;
    const dir = to.slice(0, to.lastIndexOf("/"));
    if (!exists(dir)) Deno.mkdirSync(dir, { recursive: true }); // mkdir "." would ask for write access to it
    writeFileAtomic(to, content); // whole or not at all: a reader never sees half a README or chart
  }
  console.log(`wrote ${files.size} files under ${out}/ from ${manifestPath}`);
}

// Bad input (the manifest, a CSV it names) is one line and exit 2; any other failure one line and exit 1
// (exitCleanlyOnErrors, installed by parseOrExit).
try {
  await main();
} catch (err) {
  if (!(err instanceof ReportError)) throw err;
  console.error(`error: ${err.message}`);
  Deno.exit(2);
}
