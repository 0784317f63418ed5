/**
 * The flags every experiment takes: {@linkcode RUN_FLAGS}, one row each
 * (range, default, help, CSV column), the rules between them (one function
 * each, below the table), and what is derived from them: {@linkcode
 * parseRunArgs}, {@linkcode usage} and the experiment CSV's flag columns.
 * Not the training (lib/experiment.ts) nor a sweep's own flags (each sweep
 * script declares its rows, picking some of these from {@linkcode RUN_FLAG}).
 */
import { type BackendName, BACKENDS } from "../backend.ts";
import { type CellKind, CELLS } from "../cells.ts";
import { type KernelKind, KERNELS, recurrenceFor } from "../kernels/mod.ts";
import { type OptimizerName, OPTIMIZERS } from "../optim.ts";
import { UsageError } from "../usage_error.ts";
import { type Flag, flagCells, flagColumns, helpText, int, parseTable, withDefaults } from "./flags.ts";
import { assertMemory } from "./memory.ts";

/** Everything one experiment run needs, flat so it prints and logs as is. */
export interface RunConfig {
  /** Experiment name in the CSV and its file name; empty means the script's own. */
  name: string;
  seeds: number[];
  epochs: number;
  echoStep: number;
  hidden: number;
  layers: number;
  cell: CellKind;
  identityScale: number;
  bptt: number;
  batch: number;
  series: number;
  lr: number;
  optimizer: OptimizerName;
  clip: number;
  fixedSeries: boolean;
  backend: BackendName;
  kernel: KernelKind;
  /** `--threads`: workers the replicas are split over (lib/threads.ts); changes no result. */
  threads: number;
  out: string;
  /** `--max-memory`, GiB: the largest estimated run allowed. */
  maxMemory: number;
}

/** The knobs an experiment sets at its top; flags override them. */
export type Knobs = Partial<RunConfig> & { seed?: number };

/** Default of `--max-memory`, GiB. */
export const DEFAULT_MAX_MEMORY_GIB = 4;

/** The most workers one run may ask for (`--threads`, lib/threads.ts); the default is every core, up to it. */
export const MAX_THREADS = 256;

/** Backends whose replicas may be split over workers: tfjs's pure CPU backends, one wasm instance per worker. */
const THREADED = ["cpu", "wasm"];

/** The notebook's settings (cells 2, 11, 12): what every experiment starts from. */
export const NOTEBOOK: RunConfig = {
  name: "",
  seeds: [1],
  epochs: 5,
  echoStep: 3,
  hidden: 4,
  layers: 1,
  cell: "rnn",
  identityScale: 1,
  bptt: 20,
  batch: 5,
  series: 20_000,
  lr: 0.001,
  optimizer: "rmsprop",
  clip: 0,
  fixedSeries: false,
  backend: "auto",
  kernel: "auto",
  threads: defaultThreads("auto"),
  out: "results",
  maxMemory: DEFAULT_MAX_MEMORY_GIB,
};

/** The largest seed: seeds are unsigned 32-bit integers. */
export const MAX_SEED = 2 ** 32 - 1;

/** The most replicas one run trains, in every form of `--seeds`. */
export const MAX_REPLICAS = 4096;

/**
 * The largest share of a series' targets that may be the zeros the echo
 * shift fills in (`echoStep / series`). Past it a model that predicts zeros
 * scores well without remembering anything, so the run would measure
 * nothing. An echo step longer than `--bptt` is a real experiment and stays
 * allowed.
 */
export const MAX_ZERO_FILL_SHARE = 0.1;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The run flags' rows without their defaults, which are the notebook's: see {@linkcode RUN_FLAGS}. */
const ROWS = [
  {
    name: "name",
    type: "text",
    arg: "NAME",
    key: "name",
    help: "experiment name in the CSV and its file name",
    range: "1-64 letters, digits, '.', '_' or '-'",
    show: (v: string) => v || "the script's",
    check: (v: string) => {
      if (v !== "" && !NAME.test(v)) {
        throw new UsageError(`--name must be 1-64 letters, digits, '.', '_' or '-', got "${v}"`);
      }
    },
  },
  {
    name: "seed",
    type: "int",
    min: 0,
    max: MAX_SEED,
    help: "first seed (default {default}) in {range}; a seed fixes data, init and results",
  },
  {
    name: "seeds",
    type: "custom",
    arg: "N|a,b,c",
    key: "seeds",
    parse: seedsOf,
    range: `at most ${MAX_REPLICAS}`,
    help: "train N replicas (consecutive from --seed) or the listed seeds (not with --seed) at once",
  },
  { name: "cell", type: "choice", choices: CELLS, key: "cell", column: "cell", help: "{range}" },
  {
    name: "identity-scale",
    type: "real",
    min: 0,
    max: 10,
    minOpen: true,
    key: "identityScale",
    column: "identity_scale",
    record: (c: RunConfig) => c.cell === "irnn" ? c.identityScale : "",
    help: "--cell irnn only: scale of the identity recurrent matrix",
  },
  {
    name: "echo-step",
    type: "int",
    min: 1,
    max: (get) => (get("series") as number) - 1,
    key: "echoStep",
    column: "echo_step",
    help: "echo delay",
    range: `at most ${100 * MAX_ZERO_FILL_SHARE}% of --series (zero-filled targets)`,
  },
  { name: "hidden", type: "int", min: 1, max: 4096, key: "hidden", column: "hidden", help: "hidden units per layer" },
  { name: "layers", type: "int", min: 1, max: 64, key: "layers", column: "layers", help: "stacked recurrent layers" },
  {
    name: "bptt",
    type: "int",
    min: 1,
    max: (get) => get("series") as number,
    key: "bptt",
    column: "bptt",
    help: "truncated-BPTT chunk length T",
    range: "divides --series",
  },
  { name: "batch", type: "int", min: 1, max: 4096, key: "batch", column: "batch", help: "bit streams per series" },
  { name: "series", type: "int", min: 1, max: 10_000_000, key: "series", column: "series", help: "series length" },
  { name: "lr", type: "real", min: 0, max: 10, minOpen: true, key: "lr", column: "lr", help: "learning rate" },
  {
    name: "optimizer",
    type: "choice",
    choices: OPTIMIZERS,
    key: "optimizer",
    column: "optimizer",
    help: "{range} with PyTorch's update",
  },
  {
    name: "clip",
    type: "real",
    min: 0,
    max: 1e6,
    key: "clip",
    column: "clip",
    help: "global gradient-norm clipping per replica, 0 = off",
  },
  {
    name: "fixed-series",
    type: "bool",
    key: "fixedSeries",
    column: "fixed_series",
    help: "keep one series for every epoch",
    show: (v: boolean) => v ? "on" : "off: a new series each epoch, as upstream",
  },
  { name: "epochs", type: "int", min: 1, max: 10_000, key: "epochs", column: "epochs", help: "training epochs" },
  { name: "backend", type: "choice", choices: BACKENDS, key: "backend", help: "{range}" },
  {
    name: "kernel",
    type: "choice",
    choices: KERNELS,
    key: "kernel",
    help: "{range}: fused sequence ops and optimizer, or op by op",
  },
  {
    name: "threads",
    type: "int",
    min: 1,
    max: MAX_THREADS,
    key: "threads",
    help: "workers of this process the replicas are split over, {range}, each with its own tfjs (cpu and wasm; 1 " +
      "where auto loads another backend); results are the same for any N",
    show: "every core on cpu and wasm, else 1",
  },
  {
    name: "out",
    type: "dir",
    key: "out",
    help: "where the CSV goes (default {default}; tasks may write only under results/)",
  },
  {
    name: "max-memory",
    type: "real",
    arg: "GIB",
    min: 0,
    max: 1e6,
    minOpen: true,
    key: "maxMemory",
    help: "refuse a run whose data, parameters and activations need more",
  },
] as const satisfies readonly Flag[];

/**
 * The run flags, in the order of `--help` and of the experiment CSV's flag
 * columns (`column`: cell ... epochs, between kernel_reason and parameters).
 * A row's default is the notebook's (`NOTEBOOK[key]`); a script's knobs
 * override it.
 */
export const RUN_FLAGS = withDefaults(ROWS, runDefaults({}));

type RunFlagRow = (typeof RUN_FLAGS)[number];

/** The run flags by name, for a sweep to pick rows from (`{ ...RUN_FLAG.epochs, default: 20 }`). */
export const RUN_FLAG = Object.fromEntries(RUN_FLAGS.map((f) => [f.name, f])) as {
  [F in RunFlagRow as F["name"]]: F;
};

/** The experiment CSV's flag columns, in table order: cell, identity_scale, echo_step, ..., epochs. */
export const RUN_COLUMNS: readonly string[] = flagColumns(RUN_FLAGS);

/** A run's cells in {@linkcode RUN_COLUMNS} (identity_scale empty unless the cell is irnn). */
export function runCells(cfg: RunConfig): Record<string, string | number | boolean> {
  return flagCells(RUN_FLAGS, cfg);
}

// ---------------------------------------------------------------- rules between run flags

/** `--seeds` as typed: a count N, or the list a,b,c (distinct, at most {@linkcode MAX_REPLICAS}). */
function seedsOf(raw: string): number | number[] {
  if (!raw.includes(",")) return int("seeds", raw, 1, 1, MAX_REPLICAS);
  const parts = raw.split(",");
  if (parts.length > MAX_REPLICAS) {
    throw new UsageError(`--seeds must list at most ${MAX_REPLICAS} seeds, got ${parts.length}`);
  }
  const list = parts.map((s) => int("seeds", s, 0, 0, MAX_SEED));
  if (new Set(list).size !== list.length) throw new UsageError(`--seeds must list distinct seeds, got "${raw}"`);
  return list;
}

/** The first seed of a script: `knobs.seed`, else the first of `knobs.seeds`, else the notebook's. */
function firstSeed(knobs: Knobs): number {
  return knobs.seed ?? knobs.seeds?.[0] ?? NOTEBOOK.seeds[0];
}

/**
 * The replicas' seeds from `--seed` (`first`) and `--seeds` (a count from
 * `first`, or a list, which names every seed and so cannot go with
 * `--seed`); without `--seeds`, the knobs' list unless `--seed` was given.
 */
export function replicaSeeds(
  first: number,
  seeds: number | readonly number[],
  given: { seed: boolean; seeds: boolean },
  knobs: Knobs,
): number[] {
  if (!given.seeds) return !given.seed && knobs.seeds ? knobs.seeds : [first];
  if (typeof seeds !== "number") {
    if (given.seed) {
      throw new UsageError(`--seed ${first} cannot be given with a list in --seeds (the list names every seed)`);
    }
    return [...seeds];
  }
  if (first + seeds - 1 > MAX_SEED) throw new UsageError(`--seeds ${seeds} from --seed ${first} passes ${MAX_SEED}`);
  return Array.from({ length: seeds }, (_, i) => first + i);
}

/** Throws a {@linkcode UsageError} unless `--bptt` divides `--series` (a series is read in whole chunks). */
export function assertDivides(series: number, bptt: number): void {
  if (series % bptt !== 0) throw new UsageError(`--series ${series} must be divisible by --bptt ${bptt}`);
}

/**
 * Throws a {@linkcode UsageError} unless at most
 * {@linkcode MAX_ZERO_FILL_SHARE} of a series' targets are zero-filled.
 */
export function assertMeasures(echoStep: number, series: number, echoFlag = "--echo-step"): void {
  if (echoStep <= MAX_ZERO_FILL_SHARE * series) return;
  throw new UsageError(
    `${echoFlag} ${echoStep} with --series ${series} makes ${(100 * echoStep / series).toFixed(1)}% of the targets ` +
      `zero fill (at most ${100 * MAX_ZERO_FILL_SHARE}%: ${echoFlag} up to ${
        Math.floor(MAX_ZERO_FILL_SHARE * series)
      } at this --series, or --series at least ${Math.ceil(echoStep / MAX_ZERO_FILL_SHARE)})`,
  );
}

/** Throws a {@linkcode UsageError} for `--identity-scale` given where no irnn runs (`cells`: the cells the run trains). */
export function assertIrnnOnly(cells: readonly CellKind[], cell: CellKind): void {
  if (!cells.includes("irnn")) {
    throw new UsageError(`--identity-scale applies to --cell irnn only, got --cell ${cell}`);
  }
}

/**
 * `--threads`' default on `backend` (a flag value, or the name of the tfjs
 * backend loaded): every core, up to {@linkcode MAX_THREADS}, where the
 * replicas may be split over workers (cpu, wasm, and auto until it is
 * loaded), else 1.
 */
export function defaultThreads(backend: string): number {
  return THREADED.includes(backend) || backend === "auto"
    ? Math.max(1, Math.min(navigator.hardwareConcurrency, MAX_THREADS))
    : 1;
}

/**
 * The threads a run uses: `--threads` as `threads` when it was given, else
 * {@linkcode defaultThreads}. `backend` is the `--backend` named, `loaded`
 * the tfjs backend loaded (the same until `auto` is resolved). Throws a
 * {@linkcode UsageError} for `--threads` over 1 with a named backend that
 * runs in one thread (webgpu, node: one device or one native library per
 * process); where `auto` loads one of those, the run takes one thread.
 */
export function threadsOn(backend: string, loaded: string, threads: number, given: boolean): number {
  if (!given) return defaultThreads(loaded);
  if (threads <= 1 || THREADED.includes(loaded) || loaded === "auto") return threads;
  if (backend === "auto") return 1;
  throw new UsageError(
    `--threads ${threads} needs --backend cpu or wasm (workers of one process); --backend ${backend} runs in one ` +
      `thread (--threads 1)`,
  );
}

/**
 * {@linkcode assertMemory} for a run configuration on `backend` (a flag
 * value before a backend is loaded, or the loaded tfjs backend's name after),
 * counted for the recurrence that will run there.
 */
export function assertRunMemory(cfg: RunConfig, backend: string): void {
  assertMemory({
    ...cfg,
    seeds: cfg.seeds.length,
    kernel: recurrenceFor({ ...cfg, backend }),
    budgetGiB: cfg.maxMemory,
    backend,
  });
}

// ---------------------------------------------------------------- derived

/** Each run flag's default for a script: its knobs over the notebook's settings. */
function runDefaults(knobs: Knobs): Record<string, unknown> {
  const base: Record<string, unknown> = { ...NOTEBOOK, ...knobs };
  return Object.fromEntries(ROWS.map((f) => [f.name, "key" in f ? base[f.key] : firstSeed(knobs)]));
}

/**
 * Throws a {@linkcode UsageError} for the first flag in `argv` that `task`
 * does not honour (not in `takes`; `--help` always applies).
 */
export function assertTakes(task: string, takes: readonly string[], argv: string[]): void {
  const names: readonly string[] = RUN_FLAGS.map((f) => f.name);
  for (const arg of argv) {
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : "";
    if (names.includes(name) && !takes.includes(name)) {
      throw new UsageError(`--${name} does not apply to ${task} (it takes ${takes.map((f) => `--${f}`).join(", ")})`);
    }
  }
}

/** Whether `argv` gives `--flag` (as `--flag` or `--flag=value`). */
export function flagGiven(argv: string[], flag: string): boolean {
  return argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
}

/**
 * Parses an experiment's flags over its knobs. Throws {@linkcode UsageError}
 * with a one-line message for an unknown flag, a non-number or a value out
 * of range, or flags that break a rule between them. Returns null when
 * `--help` was asked for.
 */
export function parseRunArgs(
  argv: string[],
  knobs: Knobs = {},
  opts: { everyCellByDefault?: boolean } = {},
): RunConfig | null {
  const parsed = parseTable(withDefaults(RUN_FLAGS, runDefaults(knobs)), argv);
  if (!parsed) return null;
  const { values: v, given } = parsed;
  const byKey: Record<string, unknown> = Object.fromEntries(
    RUN_FLAGS.flatMap((f) => ("key" in f ? [[f.key, v[f.name]]] : [])),
  );
  byKey.seeds = replicaSeeds(v.seed, v.seeds, { seed: given.has("seed"), seeds: given.has("seeds") }, knobs);
  // In NOTEBOOK's order, the order a run prints its config in.
  const cfg = Object.fromEntries(Object.keys(NOTEBOOK).map((k) => [k, byKey[k]])) as unknown as RunConfig;
  assertDivides(cfg.series, cfg.bptt);
  assertMeasures(cfg.echoStep, cfg.series);
  cfg.threads = threadsOn(cfg.backend, cfg.backend, cfg.threads, given.has("threads"));
  if (given.has("identity-scale")) {
    assertIrnnOnly(opts.everyCellByDefault && !given.has("cell") ? CELLS : [cfg.cell], cfg.cell);
  }
  assertRunMemory(cfg, cfg.backend);
  return cfg;
}

/**
 * The `--help` text of an experiment: every default shown is the one the
 * script runs with (its knobs over the notebook's), as {@linkcode parseRunArgs}
 * resolves them; with `takes`, only the flags the script honours.
 */
export function usage(script: string, about: string, knobs: Knobs, takes?: readonly string[]): string {
  const flags = withDefaults(RUN_FLAGS, runDefaults(knobs)).filter((f) => !takes || takes.includes(f.name));
  return helpText({ task: script, about, flags });
}
