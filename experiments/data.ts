/**
 * Notebook section "Generate dataset" (cells 2-6): build the echo data, print
 * its size, the first 20 steps of every sequence, and the first chunk.
 *
 *   deno task exp:data [--echo-step 3] [--seed 1] [--help]
 */
import { configFromArgs } from "../lib/experiment.ts";
import { CsvLog, newRunId } from "../lib/csv_log.ts";
import { EchoData } from "../lib/echo_data.ts";

const spec = {
  name: "data",
  task: "exp:data",
  about: "Preview the echo data of the notebook (cells 2-6): sizes, first 20 steps, first chunk.",
  knobs: { echoStep: 3, batch: 5, series: 20_000, bptt: 20, seed: 1 },
  // A preview of one seed's data: training flags would be ignored, so they are refused.
  takes: ["name", "seed", "echo-step", "batch", "series", "bptt", "out"],
};
const cfg = configFromArgs(spec, Deno.args);
const seed = cfg.seeds[0];
// Created before the preview prints, so a folder that cannot be written fails before any output.
const log = CsvLog.create(`${cfg.out}/${cfg.name || spec.name}-${newRunId()}.csv`, [
  "seed",
  "echo_step",
  "sequence",
  "step",
  "x",
  "y",
]);

const trainData = new EchoData({
  echoStep: cfg.echoStep,
  batchSize: cfg.batch,
  seriesLength: cfg.series,
  truncatedLength: cfg.bptt,
  seed,
});
const trainSize = trainData.length;

// `len` of an EchoData is the number of chunks, series_length / T. Printed as text: Deno colours a bare number.
console.log(String(trainSize));
console.log(String(Math.trunc(cfg.series / cfg.bptt)));

const L = cfg.series, show = Math.min(20, L);
const row = (a: Uint8Array, b: number) => [...a.subarray(b * L, b * L + show)].join(" ");
console.log("(1st input sequence)  x:", row(trainData.xBatch, 0), "... ");
console.log("(1st target sequence) y:", row(trainData.yBatch, 0), "... ");

console.log("x_batch:");
for (let b = 0; b < cfg.batch; b++) console.log(`${row(trainData.xBatch, b)} ...`);
console.log(`x_batch size: (${cfg.batch}, ${L})`);
console.log();
console.log("y_batch:");
for (let b = 0; b < cfg.batch; b++) console.log(`${row(trainData.yBatch, b)} ...`);
console.log(`y_batch size: (${cfg.batch}, ${L})`);

const first = trainData.chunkAt(0), T = cfg.bptt;
const chunkRow = (a: Float32Array, b: number) => `[${[...a.subarray(b * T, (b + 1) * T)].join(" ")}]`;
console.log("x_chunk:");
for (let b = 0; b < cfg.batch; b++) console.log(chunkRow(first.x, b));
console.log(`1st x_chunk size: (${cfg.batch}, ${T}, 1)`);
console.log();
console.log("y_chunk:");
for (let b = 0; b < cfg.batch; b++) console.log(chunkRow(first.y, b));
console.log(`1st y_chunk size: (${cfg.batch}, ${T}, 1)`);

// The previewed steps, one row per (sequence, step), to open in a spreadsheet.
const rows = [];
for (let b = 0; b < cfg.batch; b++) {
  for (let t = 0; t < show; t++) {
    rows.push({
      seed,
      echo_step: cfg.echoStep,
      sequence: b,
      step: t,
      x: trainData.xBatch[b * L + t],
      y: trainData.yBatch[b * L + t],
    });
  }
}
log.append(...rows);
console.log(`csv: ${log.path}`);
