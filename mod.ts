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
 * const { correct, digits } = trainEpoch(model, opt, data, null);
 * ```
 */
export { tf } from "./lib/tf.ts";
export { Rng } from "./lib/rng.ts";
export { type Chunk, EchoData, type EchoDataOptions } from "./lib/echo_data.ts";
export { type CellKind, CELLS, type ModelOptions, SimpleRNN, type State } from "./lib/models.ts";
export { bceWithLogits, correctDigits } from "./lib/loss.ts";
export {
  Adam,
  type AdamOptions,
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
  type OnStep,
  stackChunks,
  testEpoch,
  trainEpoch,
  type TrainOptions,
} from "./lib/train.ts";
export { type BackendChoice, type BackendName, BACKENDS, describeBackend, useBackend } from "./lib/backend.ts";
export { type Knobs, NOTEBOOK, parseRunArgs, type RunConfig, UsageError } from "./lib/cli.ts";
export { CsvLog, type CsvValue, newRunId } from "./lib/csv_log.ts";
export { CSV_COLUMNS, type ExperimentSpec, runExperiment, SUCCESS_ACCURACY } from "./lib/experiment.ts";
