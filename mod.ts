/**
 * echolab's public API: the building blocks of the experiments, for notebooks
 * and scripts of your own.
 *
 * ```ts
 * import { EchoData, RMSprop, SimpleRNN, trainEpoch, useBackend } from "./mod.ts";
 * await useBackend("auto");
 * const data = [new EchoData({ echoStep: 3, batchSize: 5, seriesLength: 20_000, truncatedLength: 20, seed: 5 })];
 * const model = new SimpleRNN({ hidden: 4, seeds: [5] });
 * const opt = new RMSprop(model.variables);
 * const { correct, digits } = await trainEpoch(model, opt, data, null);
 * ```
 */
export { quietTfjsWarnings, tf } from "./lib/tf.ts";
export { Rng } from "./lib/rng.ts";
export { type Chunk, EchoData, type EchoDataOptions } from "./lib/echo_data.ts";
export { type CellKind, CELLS, type ModelOptions, SimpleRNN, type State } from "./lib/models.ts";
export { bceWithLogits, correctDigits } from "./lib/loss.ts";
export {
  Adam,
  type AdamOptions,
  type AliveMask,
  clipGradNorm,
  makeOptimizer,
  type Optimizer,
  type OptimizerName,
  OPTIMIZERS,
  RMSprop,
  type RMSpropOptions,
} from "./lib/optim.ts";
export {
  type EchoCheck,
  echoCheck,
  type EpochResult,
  GPU_READ_EVERY,
  type OnStep,
  stackChunks,
  testEpoch,
  trainEpoch,
  type TrainOptions,
} from "./lib/train.ts";
export {
  type BackendChoice,
  type BackendName,
  BACKENDS,
  describeBackend,
  findWebGpuAdapter,
  useBackend,
  type WebGpuAdapter,
  webgpuLabel,
} from "./lib/backend.ts";
export { type Knobs, NOTEBOOK, parseRunArgs, type RunConfig, UsageError } from "./lib/cli.ts";
export { CsvLog, type CsvValue, newRunId } from "./lib/csv_log.ts";
export { CSV_COLUMNS, type ExperimentSpec, runExperiment, SUCCESS_ACCURACY } from "./lib/experiment.ts";
export {
  type Kernel,
  type KernelChoice,
  kernelFor,
  type KernelKind,
  type KernelQuery,
  KERNELS,
  type TrainStep,
} from "./lib/kernels/mod.ts";
export { cpuLayer, cpuLinear } from "./lib/kernels/cpu/layer.ts";
export { WEBGPU_MAX_HIDDEN, webgpuLayer } from "./lib/kernels/webgpu/layer.ts";
export { opLayer, opLinear } from "./lib/kernels/op/layer.ts";
export { type OptimizerKernel } from "./lib/optim.ts";
export { median, quantile, wilson } from "./lib/stats.ts";
export { latestRuns, readRuns, type Row, summarise, type Summary, summaryMarkdown } from "./lib/summary.ts";
export { runSweep, type SweepJob, type SweepResult } from "./lib/sweep.ts";
export { inputGradientByLag } from "./lib/gradients.ts";
export {
  capacities,
  type GridPoint,
  gridPoints,
  type GridSpec,
  MergeError,
  mergeShards,
  shardPoints,
} from "./lib/capacity.ts";
export {
  capacityHeatmapSpec,
  gradientLagSpec,
  learningCurvesSpec,
  renderSvg,
  successBarsSpec,
  svgToPng,
  writeChart,
} from "./lib/charts.ts";
