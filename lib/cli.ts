import { parseArgs, type ParseArgsConfig } from "node:util";
import { type BackendChoice, type BackendName, BACKENDS, useBackend } from "./backend.ts";
import { type CellKind, CELLS, GATES } from "./cells.ts";
import { type KernelKind, KERNELS, recurrenceFor } from "./kernels/mod.ts";
import { type OptimizerName, OPTIMIZERS } from "./optim.ts";
import { UsageError } from "./usage_error.ts";

export { UsageError };

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
  /** `--max-memory`, GiB: the largest estimated run allowed. */
  maxMemory: number;
}

/** The knobs an experiment sets at its top; flags override them. */
export type Knobs = Partial<RunConfig> & { seed?: number };

/** Default of `--max-memory`, GiB. */
export const DEFAULT_MAX_MEMORY_GIB = 4;

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
  maxMemory: DEFAULT_MAX_MEMORY_GIB,
};

/**
 * Exit codes of every script (printed by `--help`): 0 done; 1 a failure while
 * running (the OS error or what failed, one line); 2 bad input, a forced
 * backend that cannot load, or a run over the memory budget, found before
 * anything is written.
 */
export const EXIT_CODES = "exit codes: 0 done; 1 failed while running (one line on stderr);\n" +
  "  2 bad input, a forced backend that cannot load, or over --max-memory (one line; nothing written)";

let exitHandlerInstalled = false;

/**
 * From now on an uncaught error or rejected promise prints `error: <first
 * line of its message>` and exits with code 1, instead of a stack trace.
 */
export function exitCleanlyOnErrors(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  const fail = (e: Event, err: unknown) => {
    e.preventDefault();
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(1);
  };
  globalThis.addEventListener("error", (e) => fail(e, (e as ErrorEvent).error ?? (e as ErrorEvent).message));
  globalThis.addEventListener("unhandledrejection", (e) => fail(e, (e as PromiseRejectionEvent).reason));
}

/** The first line of an error's message, without a stack. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // Our own messages are one line by construction: a line break in one comes from a name the user gave (a path),
  // so it is shown escaped rather than cutting the message. Other errors (the OS, tfjs) keep their first line.
  if (err instanceof UsageError) return escapeControls(text.trim());
  return escapeControls(
    (text.split("\n").find((l) => l.trim() !== "") ?? (err as Error)?.name ?? "unknown error").trim(),
  );
}

/** Control characters: line breaks, tabs, the escape that starts a terminal's colour codes. */
// deno-lint-ignore no-control-regex
const CONTROLS = /[\x00-\x1f\x7f]/g;

/** `text` with control characters (line breaks, escape codes) written as `\n`, `\x1b`, so it prints as one plain line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => c === "\n" ? "\\n" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Runs `parse`; on a {@linkcode UsageError} or a `node:util` parseArgs error
 * (unknown flag, missing value) prints `error: <one line>` and exits with
 * code 2 before anything is written. Also installs
 * {@linkcode exitCleanlyOnErrors}, so a later failure prints one line too.
 */
export function parseOrExit<T>(parse: () => T): T {
  exitCleanlyOnErrors();
  try {
    return parse();
  } catch (err) {
    const code = String((err as { code?: string }).code ?? "");
    if (!(err instanceof UsageError) && !code.startsWith("ERR_PARSE_ARGS")) throw err;
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(2);
  }
}

/**
 * `node:util` parseArgs, strict, that also refuses a flag given twice
 * (`--seed given twice`) instead of keeping the last value. Errors are
 * {@linkcode UsageError}s.
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
  allowPositionals = false,
) {
  // `--lr -1`, `--lr -Infinity`: node's parseArgs calls a value that starts with "-" ambiguous; it is a value,
  // refused by its range check like any other.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    const next = args[i + 1];
    if (options[name]?.type === "string" && next !== undefined && /^-[^-]/.test(next) && next !== "-h") {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else joined.push(args[i]);
  }
  args = joined;
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals, tokens: true });
  } catch (err) {
    throw new UsageError(firstLine(err));
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

const NAME_MAX = 255, PATH_MAX = 4095;

function shortPath(path: string): string {
  return path.length > 60 ? `${path.slice(0, 28)}...${path.slice(-28)}` : path;
}

/**
 * Checks before anything is written that `path` can be created or written as
 * a directory (`kind` "directory") or a file: no name in it is over 255
 * bytes, no existing part of it is a file where a folder must be, and the
 * nearest existing folder accepts a new file (a probe file created and
 * removed at once, so a read-only or immutable folder is caught now).
 */
function assertCreatable(flag: string, path: string, kind: "directory" | "file"): void {
  // A line break or escape code in a name would break the one-line output that names the file (`csv: PATH`).
  if (new RegExp(CONTROLS.source).test(path)) {
    throw new UsageError(
      `${flag} must not contain control characters (line breaks, escape codes), got ${JSON.stringify(path)}`,
    );
  }
  const enc = new TextEncoder();
  if (enc.encode(path).length > PATH_MAX) throw new UsageError(`${flag} ${shortPath(path)} is longer than 4095 bytes`);
  const long = path.split("/").find((part) => enc.encode(part).length > NAME_MAX);
  if (long !== undefined) {
    throw new UsageError(`${flag} ${shortPath(path)}: the name "${shortPath(long)}" is over ${NAME_MAX} bytes`);
  }
  let dir = path.replace(/\/+$/, "") || "/";
  let stat: Deno.FileInfo | null = null;
  try {
    stat = Deno.statSync(dir);
  } catch { /* not there yet */ }
  if (stat) {
    if (kind === "directory" && !stat.isDirectory) {
      throw new UsageError(`${flag} ${path} is a file; it must name a directory`);
    }
    if (kind === "file" && stat.isDirectory) {
      throw new UsageError(`${flag} ${path} is a directory; it must name a file`);
    }
  }
  if (kind === "file" || !stat) dir = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) || "/" : ".";
  // The nearest existing ancestor must be a directory we can create files in.
  for (;;) {
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(dir);
    } catch { /* keep walking up */ }
    if (info) {
      if (!info.isDirectory) throw new UsageError(`${flag} ${path}: ${dir} is a file, not a directory`);
      break;
    }
    if (dir === "." || dir === "/") return;
    dir = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) || "/" : ".";
  }
  // Outside this run's permissions the caller's check speaks; querying first never prompts.
  if (Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted") return;
  let probe = "";
  try {
    probe = Deno.makeTempFileSync({ dir, prefix: ".echolab-probe-" });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw new UsageError(`${flag} ${path} is not writable: ${firstLine(err).replace(/: tmpfile.*$/, "")}`);
  } finally {
    if (probe) Deno.removeSync(probe);
  }
}

function assertPermitted(flag: string, path: string, task: string): void {
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw new UsageError(
      `${flag} ${path} is not writable with this run's permissions (tasks allow results/; ` +
        `run ${task} with deno run --allow-write=${path} instead)`,
    );
  }
}

/**
 * Returns `path`, or throws a {@linkcode UsageError} unless this run's
 * permissions let it write there, it is not an existing file, and the
 * file system will let it create the directory and files in it.
 */
export function assertWritable(flag: string, path: string, task: string): string {
  if (path.trim() === "") throw new UsageError(`${flag} must name a directory, got ""`);
  assertCreatable(flag, path, "directory");
  assertPermitted(flag, path, task);
  return path;
}

/** {@linkcode assertWritable} for a flag that names a file (which may exist). */
export function assertWritableFile(flag: string, path: string, task: string): string {
  if (path.trim() === "") throw new UsageError(`${flag} must name a file, got ""`);
  assertCreatable(flag, path, "file");
  assertPermitted(flag, path, task);
  return path;
}

/**
 * {@linkcode useBackend}, or, when a forced backend cannot load, one line on
 * stderr and exit code 2 (README, Backends).
 */
export async function useBackendOrExit(name: BackendName): Promise<BackendChoice> {
  try {
    return await useBackend(name);
  } catch (err) {
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(2);
  }
}

/** Trainable numbers of one replica, as `SimpleRNN.parameterCount` counts them. */
export function parameterCount(cell: CellKind, hidden: number, layers: number, inputSize = 1): number {
  let n = 0;
  for (let l = 0; l < layers; l++) n += GATES[cell] * hidden * ((l === 0 ? inputSize : hidden) + hidden + 2);
  return n + hidden + 1;
}

/** What a run holds at once, in bytes, and the flags each part grows with. */
export interface MemoryEstimate {
  data: number;
  parameters: number;
  activations: number;
  total: number;
}

/**
 * Float32 values a training step keeps alive per replica, batch row, time
 * step, layer and hidden unit of each gate block plus one (forward values,
 * the tape of tfjs's autodiff or the fused kernels, gradients and
 * temporaries), measured with the largest live tensor bytes over an epoch of
 * every cell at H 1-128, 1-3 layers (op-level 12-26, fused 4-19 with the
 * per-step floats below; see tests/failures_test.ts, which checks the
 * estimate against a measured run).
 */
export const ACTIVATION_FACTOR: Record<"op" | "fused", number> = { op: 28, fused: 8 };

/** Float32 values per replica, batch row and time step independent of H: logits, targets, loss terms. */
const PER_STEP_FLOATS = 32;

/**
 * Bytes of tensors the wasm backend may hold: its memory is one WebAssembly
 * memory of at most 4 GiB that grows by copying, so a run is refused well
 * before that (past it tfjs-wasm aborts mid-run).
 */
export const WASM_TENSOR_BUDGET = 3 * 2 ** 30;

/**
 * Bytes a run needs before it allocates: its data (seeds x batch x series
 * bits, x and y, train and test: one byte each, in JavaScript), its
 * parameters with their gradients and optimizer moments (float32), and the
 * activations of one truncated-BPTT chunk for the recurrence that will run
 * (`kernel`, see {@linkcode ACTIVATION_FACTOR}; default `op`, the larger).
 */
export function estimateMemory(c: {
  seeds: number;
  batch: number;
  series: number;
  bptt: number;
  hidden: number;
  layers: number;
  cell: CellKind;
  optimizer: OptimizerName;
  kernel?: "op" | "fused";
}): MemoryEstimate {
  const moments = c.optimizer === "adam" ? 2 : 1;
  const data = c.seeds * c.batch * c.series * 2 * 2;
  const parameters = c.seeds * parameterCount(c.cell, c.hidden, c.layers) * 4 * (2 + moments);
  const perStep = c.layers * (GATES[c.cell] + 1) * c.hidden * ACTIVATION_FACTOR[c.kernel ?? "op"] +
    PER_STEP_FLOATS;
  const activations = c.seeds * c.batch * c.bptt * perStep * 4;
  return { data, parameters, activations, total: data + parameters + activations };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Throws a {@linkcode UsageError} naming the flags that make a run need more
 * than `budgetGiB` (see {@linkcode estimateMemory}), or, on the wasm backend
 * (`backend` "wasm"), more tensor memory than {@linkcode WASM_TENSOR_BUDGET}.
 */
export function assertMemory(
  c: Parameters<typeof estimateMemory>[0] & { budgetGiB: number; backend?: string },
  flags: { seeds?: string; hidden?: string } = {},
): void {
  const e = estimateMemory(c);
  const overBudget = e.total > c.budgetGiB * 2 ** 30;
  const overWasm = c.backend === "wasm" && e.parameters + e.activations > WASM_TENSOR_BUDGET;
  if (!overBudget && !overWasm) return;
  const seeds = `${flags.seeds ?? "--seeds"} ${c.seeds}`, hidden = `${flags.hidden ?? "--hidden"} ${c.hidden}`;
  const parts: [number, string][] = [
    [e.data, `data ${gib(e.data)} from ${seeds} x --batch ${c.batch} x --series ${c.series}`],
    [
      e.parameters,
      `parameters and optimizer state ${gib(e.parameters)} from ${seeds} x ${hidden} x --layers ${c.layers}`,
    ],
    [
      e.activations,
      `${c.kernel === "fused" ? "fused-kernel" : "op-level"} activations ${
        gib(e.activations)
      } from ${seeds} x --batch ${c.batch} x --bptt ${c.bptt} x ${hidden} x --layers ${c.layers}`,
    ],
  ];
  const [, worst] = parts.filter((p) => !overWasm || p !== parts[0]).reduce((a, b) => (b[0] > a[0] ? b : a));
  if (overWasm && !overBudget) {
    throw new UsageError(
      `this run needs about ${gib(e.parameters + e.activations)} of tensors (${worst}), over the ` +
        `${gib(WASM_TENSOR_BUDGET)} the wasm backend can hold; lower those flags or use --backend cpu`,
    );
  }
  throw new UsageError(
    `this run needs about ${gib(e.total)} (${worst}), over the --max-memory budget of ${c.budgetGiB} GiB; ` +
      `lower those flags or raise --max-memory`,
  );
}

/** The largest seed: seeds are unsigned 32-bit integers. */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * The largest share of a series' targets that may be the zeros the echo
 * shift fills in (`echoStep / series`). Past it a model that predicts zeros
 * scores well without remembering anything, so the run would measure
 * nothing. An echo step longer than `--bptt` is a real experiment and stays
 * allowed.
 */
export const MAX_ZERO_FILL_SHARE = 0.1;

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
  "max-memory": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** An integer as a person types it: optional minus, digits; no hex, binary, exponent, sign `+` or spaces. */
const PLAIN_INTEGER = /^-?\d+$/;
/** A decimal number: digits with an optional fraction and exponent (`0.001`, `1e-3`); no hex, `Infinity` or spaces. */
const PLAIN_DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * The integer flag `--flag`: plain decimal digits in `min..max`, else a
 * {@linkcode UsageError} naming the flag, the range and the value given
 * (a negative value or `0x10` gets the same message as any value out of
 * range). An absent flag takes `fallback`.
 */
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
  if (!PLAIN_INTEGER.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new UsageError(`--${flag} must be an integer in ${min}..${max}, got "${raw}"`);
  }
  return v;
}

/**
 * The number flag `--flag`: a plain decimal (exponent allowed, `Infinity`,
 * hex and overflowing values such as `1e999` refused) in `[min, max]`, or
 * `(min, max]` with `minOpen`, else a {@linkcode UsageError} naming the flag
 * and the range. An absent flag takes `fallback`.
 */
export function real(
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  minOpen = false,
): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!PLAIN_DECIMAL.test(raw) || !Number.isFinite(v) || v > max || v < min || (minOpen && v === min)) {
    throw new UsageError(`--${flag} must be a number in ${minOpen ? "(" : "["}${min}, ${max}], got "${raw}"`);
  }
  return v;
}

/**
 * A comma-separated selector such as `--only a,b`: absent gives `fallback`;
 * otherwise every name must be one of `allowed`, none empty, none twice,
 * else a {@linkcode UsageError} naming the flag and what is allowed.
 */
export function listOf<T extends string>(
  flag: string,
  raw: string | undefined,
  fallback: readonly T[],
  allowed: readonly T[],
): T[] {
  if (raw === undefined) return [...fallback];
  const names = raw.split(",");
  const bad = names.find((n) => !(allowed as readonly string[]).includes(n));
  if (bad !== undefined) {
    throw new UsageError(`--${flag} must list names from ${allowed.join(", ")}, got ${JSON.stringify(bad)}`);
  }
  if (new Set(names).size !== names.length) throw new UsageError(`--${flag} must list distinct names, got "${raw}"`);
  return names as T[];
}

export function oneOf<T extends string>(flag: string, raw: string | undefined, fallback: T, allowed: readonly T[]): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

/** The most replicas one run trains, in every form of `--seeds`. */
export const MAX_REPLICAS = 4096;

function parseSeeds(seedRaw: string | undefined, seedsRaw: string | undefined, knobs: Knobs): number[] {
  const first = int("seed", seedRaw, knobs.seed ?? knobs.seeds?.[0] ?? 1, 0, MAX_SEED);
  if (seedsRaw === undefined) return seedRaw === undefined && knobs.seeds ? knobs.seeds : [first];
  if (seedsRaw.includes(",")) {
    if (seedRaw !== undefined) {
      throw new UsageError(`--seed ${seedRaw} cannot be given with a list in --seeds (the list names every seed)`);
    }
    const parts = seedsRaw.split(",");
    if (parts.length > MAX_REPLICAS) {
      throw new UsageError(`--seeds must list at most ${MAX_REPLICAS} seeds, got ${parts.length}`);
    }
    const list = parts.map((s) => int("seeds", s, 0, 0, MAX_SEED));
    if (new Set(list).size !== list.length) throw new UsageError(`--seeds must list distinct seeds, got "${seedsRaw}"`);
    return list;
  }
  const n = int("seeds", seedsRaw, 1, 1, MAX_REPLICAS);
  if (first + n - 1 > MAX_SEED) throw new UsageError(`--seeds ${n} from --seed ${first} passes ${MAX_SEED}`);
  return Array.from({ length: n }, (_, i) => first + i);
}

/**
 * `--shard i/n`: the i-th of n parts of a sweep, 1 <= i <= n <= `max`
 * (default `1/1`), else a {@linkcode UsageError} naming the flag.
 */
export function parseShard(raw: string | undefined, max: number): { shard: number; shards: number } {
  const m = /^(\d{1,5})\/(\d{1,5})$/.exec(raw ?? "1/1");
  if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]) || Number(m[2]) > max) {
    throw new UsageError(`--shard must be i/n with 1 <= i <= n <= ${max}, got "${raw}"`);
  }
  return { shard: Number(m[1]), shards: Number(m[2]) };
}

/**
 * Throws a {@linkcode UsageError} for the first flag in `argv` that `task`
 * does not honour (not in `takes`; `--help` always applies).
 */
export function assertTakes(task: string, takes: readonly string[], argv: string[]): void {
  for (const arg of argv) {
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : "";
    if (name in OPTIONS && name !== "help" && !takes.includes(name)) {
      throw new UsageError(`--${name} does not apply to ${task} (it takes ${takes.map((f) => `--${f}`).join(", ")})`);
    }
  }
}

/** Whether `argv` gives `--flag` (as `--flag`, `--flag=value` or, for `-h`, its short form). */
export function flagGiven(argv: string[], flag: string): boolean {
  return argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
}

/**
 * Parses an experiment's flags over its knobs. Throws {@linkcode UsageError}
 * with a one-line message for an unknown flag, a non-number or a value out
 * of range. Returns null when `--help` was asked for.
 */
export function parseRunArgs(
  argv: string[],
  knobs: Knobs = {},
  opts: { everyCellByDefault?: boolean } = {},
): RunConfig | null {
  const { values } = parseFlags(argv, OPTIONS);
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
    maxMemory: real("max-memory", values["max-memory"], base.maxMemory, 0, 1e6, true),
  };
  assertMeasures(cfg.echoStep, cfg.series);
  const cellsRun = opts.everyCellByDefault && values.cell === undefined ? CELLS : [cfg.cell];
  if (values["identity-scale"] !== undefined && !cellsRun.includes("irnn")) {
    throw new UsageError(`--identity-scale applies to --cell irnn only, got --cell ${cfg.cell}`);
  }
  if (cfg.out.trim() === "") throw new UsageError(`--out must name a directory, got ""`);
  assertRunMemory(cfg, cfg.backend);
  return cfg;
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

/**
 * The `--help` text of an experiment: every default shown is the one the
 * script runs with (its knobs over the notebook's), as {@linkcode parseRunArgs}
 * resolves them.
 */
export function usage(script: string, about: string, knobs: Knobs, takes?: readonly string[]): string {
  const d = { ...NOTEBOOK, ...knobs };
  // As parseSeeds: the first seed is knobs.seed, else the first of knobs.seeds, else 1.
  const seed = knobs.seed ?? knobs.seeds?.[0] ?? NOTEBOOK.seeds[0];
  const seeds = knobs.seeds ? knobs.seeds.join(",") : "1";
  const text = `${about}

usage: deno task ${script} [flags]

  --name NAME         experiment name in the CSV and its file name (default: the script's)
  --seed N            first seed (default ${seed}); a seed fixes data, init and results
  --seeds N|a,b,c     train N replicas (consecutive from --seed) or the listed seeds (not with --seed) at once,
                      at most ${MAX_REPLICAS} (default ${seeds})
  --epochs N          training epochs, 1..10000 (default ${d.epochs})
  --echo-step N       echo delay, at most ${
    100 * MAX_ZERO_FILL_SHARE
  }% of --series (zero-filled targets) (default ${d.echoStep})
  --hidden N          hidden units per layer, 1..4096 (default ${d.hidden})
  --layers N          stacked recurrent layers, 1..64 (default ${d.layers})
  --cell NAME         ${CELLS.join("|")} (default ${d.cell})
  --identity-scale X  --cell irnn only: scale of the identity recurrent matrix, (0, 10] (default ${d.identityScale})
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
  --max-memory GIB    refuse a run whose data, parameters and activations need more (default ${DEFAULT_MAX_MEMORY_GIB})
  -h, --help          this text

${EXIT_CODES}`;
  if (!takes) return text;
  // Only the flags the script honours: a flag's line and the lines that continue it.
  let keep = true;
  return text.split("\n").filter((line) => {
    const m = /^ {2}--([a-z-]+)/.exec(line);
    if (m) keep = takes.includes(m[1]) || m[1] === "help";
    else if (!/^ {20,}/.test(line)) keep = true;
    return keep;
  }).join("\n");
}
