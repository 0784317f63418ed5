import { parseArgs } from "node:util";
import { type BackendName, BACKENDS } from "./backend.ts";
import { type CellKind, CELLS, type KernelKind, KERNELS } from "./models.ts";
import { type OptimizerName, OPTIMIZERS } from "./optim.ts";

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
  out: string;
}

/** The knobs an experiment sets at its top; flags override them. */
export type Knobs = Partial<RunConfig> & { seed?: number };

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
  out: "results",
};

/** A bad command line: the message is one line naming the flag and what is allowed. */
export class UsageError extends Error {}

/**
 * Runs `parse`; on a {@linkcode UsageError} or a `node:util` parseArgs error
 * (unknown flag, missing value) prints `error: <one line>` and exits with
 * code 2 before anything is written.
 */
export function parseOrExit<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    const code = String((err as { code?: string }).code ?? "");
    if (!(err instanceof UsageError) && !code.startsWith("ERR_PARSE_ARGS")) throw err;
    console.error(`error: ${(err as Error).message.split("\n")[0]}`);
    Deno.exit(2);
  }
}

/**
 * Returns `path`, or throws a {@linkcode UsageError} unless this run's
 * permissions let it write there and it is not an existing file.
 */
export function assertWritable(flag: string, path: string, task: string): string {
  try {
    if (!Deno.statSync(path).isDirectory) throw new UsageError(`${flag} ${path} is a file; it must name a directory`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw new UsageError(
      `${flag} ${path} is not writable with this run's permissions (tasks allow results/; ` +
        `run ${task} with deno run --allow-write=${path} instead)`,
    );
  }
  return path;
}

const MAX_SEED = 2 ** 32 - 1;

const OPTIONS = {
  name: { type: "string" },
  seed: { type: "string" },
  seeds: { type: "string" },
  epochs: { type: "string" },
  "echo-step": { type: "string" },
  hidden: { type: "string" },
  layers: { type: "string" },
  cell: { type: "string" },
  "identity-scale": { type: "string" },
  bptt: { type: "string" },
  batch: { type: "string" },
  series: { type: "string" },
  lr: { type: "string" },
  optimizer: { type: "string" },
  clip: { type: "string" },
  "fixed-series": { type: "boolean" },
  backend: { type: "string" },
  kernel: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function int(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) {
    if (fallback < min || fallback > max) {
      throw new UsageError(
        `--${flag} must be an integer in ${min}..${max}, got its default ${fallback}; set --${flag}`,
      );
    }
    return fallback;
  }
  const v = Number(raw);
  if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new UsageError(`--${flag} must be an integer in ${min}..${max}, got "${raw}"`);
  }
  return v;
}

function real(
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  minOpen = false,
): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || v > max || v < min || (minOpen && v === min)) {
    throw new UsageError(`--${flag} must be a number in ${minOpen ? "(" : "["}${min}, ${max}], got "${raw}"`);
  }
  return v;
}

export function oneOf<T extends string>(flag: string, raw: string | undefined, fallback: T, allowed: readonly T[]): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

function parseSeeds(seedRaw: string | undefined, seedsRaw: string | undefined, knobs: Knobs): number[] {
  const first = int("seed", seedRaw, knobs.seed ?? knobs.seeds?.[0] ?? 1, 0, MAX_SEED);
  if (seedsRaw === undefined) return seedRaw === undefined && knobs.seeds ? knobs.seeds : [first];
  if (seedsRaw.includes(",")) {
    const list = seedsRaw.split(",").map((s) => int("seeds", s, 0, 0, MAX_SEED));
    if (new Set(list).size !== list.length) throw new UsageError(`--seeds must list distinct seeds, got "${seedsRaw}"`);
    return list;
  }
  const n = int("seeds", seedsRaw, 1, 1, 4096);
  if (first + n - 1 > MAX_SEED) throw new UsageError(`--seeds ${n} from --seed ${first} passes ${MAX_SEED}`);
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * Parses an experiment's flags over its knobs. Throws {@linkcode UsageError}
 * with a one-line message for an unknown flag, a non-number or a value out
 * of range. Returns null when `--help` was asked for.
 */
export function parseRunArgs(argv: string[], knobs: Knobs = {}): RunConfig | null {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(String((err as Error).message).split("\n")[0]);
  }
  if (values.help) return null;
  const base = { ...NOTEBOOK, ...knobs };
  const series = int("series", values.series, base.series, 1, 10_000_000);
  const bptt = int("bptt", values.bptt, base.bptt, 1, series);
  if (series % bptt !== 0) throw new UsageError(`--series ${series} must be divisible by --bptt ${bptt}`);
  const name = values.name ?? base.name;
  if (name !== "" && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new UsageError(`--name must be 1-64 letters, digits, '.', '_' or '-', got "${name}"`);
  }
  const cfg: RunConfig = {
    name,
    seeds: parseSeeds(values.seed, values.seeds, knobs),
    epochs: int("epochs", values.epochs, base.epochs, 1, 10_000),
    echoStep: int("echo-step", values["echo-step"], base.echoStep, 1, series - 1),
    hidden: int("hidden", values.hidden, base.hidden, 1, 4096),
    layers: int("layers", values.layers, base.layers, 1, 64),
    cell: oneOf("cell", values.cell, base.cell, CELLS),
    identityScale: real("identity-scale", values["identity-scale"], base.identityScale, 0, 10, true),
    bptt,
    batch: int("batch", values.batch, base.batch, 1, 4096),
    series,
    lr: real("lr", values.lr, base.lr, 0, 10, true),
    optimizer: oneOf("optimizer", values.optimizer, base.optimizer, OPTIMIZERS),
    clip: real("clip", values.clip, base.clip, 0, 1e6),
    fixedSeries: values["fixed-series"] ?? base.fixedSeries,
    backend: oneOf("backend", values.backend, base.backend, BACKENDS),
    kernel: oneOf("kernel", values.kernel, base.kernel, KERNELS),
    out: values.out ?? base.out,
  };
  if (cfg.out.trim() === "") throw new UsageError(`--out must name a directory, got ""`);
  return cfg;
}

/** The `--help` text of an experiment. */
export function usage(script: string, about: string, knobs: Knobs): string {
  const d = { ...NOTEBOOK, ...knobs };
  return `${about}

usage: deno task ${script} [flags]

  --name NAME         experiment name in the CSV and its file name (default: the script's)
  --seed N            first seed (default ${d.seeds[0]}); a seed fixes data, init and results
  --seeds N|a,b,c     train N replicas (seeds N consecutive from --seed) or the listed seeds at once
  --epochs N          training epochs, 1..10000 (default ${d.epochs})
  --echo-step N       echo delay, 1..series-1 (default ${d.echoStep})
  --hidden N          hidden units per layer, 1..4096 (default ${d.hidden})
  --layers N          stacked recurrent layers, 1..64 (default ${d.layers})
  --cell NAME         ${CELLS.join("|")} (default ${d.cell})
  --identity-scale X  irnn: scale of the identity recurrent matrix, (0, 10] (default ${d.identityScale})
  --bptt N            truncated-BPTT chunk length T, divides --series (default ${d.bptt})
  --batch N           bit streams per series, 1..4096 (default ${d.batch})
  --series N          series length, 1..10000000 (default ${d.series})
  --lr X              learning rate, (0, 10] (default ${d.lr})
  --optimizer NAME    ${OPTIMIZERS.join("|")} with PyTorch's update (default ${d.optimizer})
  --clip X            global gradient-norm clipping per replica, 0 = off (default ${d.clip})
  --fixed-series      keep one series for every epoch (default: a new series each epoch, as upstream)
  --backend NAME      ${BACKENDS.join("|")} (default ${d.backend})
  --kernel NAME       ${KERNELS.join("|")}: fused sequence ops and optimizer, or op by op (default ${d.kernel})
  --out DIR           where the CSV goes (default ${d.out}; tasks may write only under results/)
  -h, --help          this text`;
}
