/**
 * The command line of every script, one door to lib/cli/: the run flags'
 * table and its rules (run.ts), the table machinery that parses, checks and
 * documents any script's flags (flags.ts), memory estimates (memory.ts),
 * checks of a path to write (paths.ts) and one-line exits (exit.ts). Holds
 * nothing of its own.
 */
export { UsageError } from "./usage_error.ts";
export {
  escapeControls,
  EXIT_CODES,
  exitCleanlyOnErrors,
  firstLine,
  parseOrExit,
  useBackendOrExit,
} from "./cli/exit.ts";
export { assertWritable, assertWritableFile, isDirectory } from "./cli/paths.ts";
export {
  type Command,
  type Flag,
  flagCells,
  flagColumns,
  type FlagType,
  type Get,
  helpText,
  int,
  listOf,
  oneOf,
  parseCommandOrExit,
  type Parsed,
  parseFlags,
  parseShard,
  parseTable,
  real,
  type Shard,
  shardFlag,
  type Values,
} from "./cli/flags.ts";
export { assertMemory, estimateMemory, type MemoryEstimate, parameterCount } from "./cli/memory.ts";
export { ACTIVATION_FACTOR } from "./kernels/mod.ts";
export { WASM_TENSOR_BUDGET } from "./backend.ts";
export {
  assertDivides,
  assertIrnnOnly,
  assertMeasures,
  assertRunMemory,
  assertTakes,
  DEFAULT_MAX_MEMORY_GIB,
  defaultThreads,
  flagGiven,
  type Knobs,
  MAX_REPLICAS,
  MAX_SEED,
  MAX_THREADS,
  MAX_ZERO_FILL_SHARE,
  NOTEBOOK,
  parseRunArgs,
  replicaSeeds,
  RUN_COLUMNS,
  RUN_FLAG,
  RUN_FLAGS,
  runCells,
  type RunConfig,
  threadsOn,
  usage,
} from "./cli/run.ts";
