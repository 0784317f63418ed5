/**
 * One way to declare a script's flags: a table of {@linkcode Flag} rows
 * (name, type, range, default, help, CSV column), from which the parser's
 * options, the value checks with their one-line errors, the `--help` text
 * and the CSV columns are all derived. Generic: it knows no script's flags
 * (the run flags are lib/cli/run.ts, each sweep's are in its own script) and
 * no rule between two flags (each lives beside its table as a function).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../usage_error.ts";
import { EXIT_CODES, firstLine, parseOrExit } from "./exit.ts";
import { assertNamed, assertWritable, assertWritableFile } from "./paths.ts";

// ---------------------------------------------------------------- strict values

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
    throw new UsageError(`--${flag} must be a number in ${interval(min, max, minOpen)}, got "${raw}"`);
  }
  return v;
}

const interval = (min: number, max: number, minOpen = false) => `${minOpen ? "(" : "["}${min}, ${max}]`;

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

/** The flag `--flag`: one of `allowed`, else a {@linkcode UsageError} naming them. An absent flag takes `fallback`. */
export function oneOf<T extends string>(flag: string, raw: string | undefined, fallback: T, allowed: readonly T[]): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

/** A part of a sweep: the i-th (`shard`) of n (`shards`). */
export interface Shard {
  shard: number;
  shards: number;
}

/**
 * `--shard i/n`: the i-th of n parts of a sweep, 1 <= i <= n <= `max`
 * (default `1/1`), else a {@linkcode UsageError} naming the flag.
 */
export function parseShard(raw: string | undefined, max: number): Shard {
  const m = /^(\d{1,5})\/(\d{1,5})$/.exec(raw ?? "1/1");
  if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]) || Number(m[2]) > max) {
    throw new UsageError(`--shard must be i/n with 1 <= i <= n <= ${max}, got "${raw}"`);
  }
  return { shard: Number(m[1]), shards: Number(m[2]) };
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

// ---------------------------------------------------------------- the table

/** What a flag takes. */
export type FlagType =
  /** A plain decimal integer in `min..max` (with `list`: a comma list of them, distinct). */
  | "int"
  /** A plain decimal in `[min, max]`, or `(min, max]` with `minOpen`. */
  | "real"
  /** One of `choices` (with `list`: a comma list of them, distinct). */
  | "choice"
  /** A comma list of distinct names from `choices`: a selector such as `--only`. */
  | "names"
  /** Any text, checked by `check`. */
  | "text"
  /** A folder to write in, or a file to write: named, creatable, within this run's permissions. */
  | "dir"
  | "file"
  /** A switch; it takes no value. */
  | "bool"
  /** Read by the row's own `parse` (`--seeds N|a,b,c`, `--shard i/n`). */
  | "custom";

/** Another flag's value while a table is parsed (that flag is parsed first if it was not yet). */
export type Get = (name: string) => unknown;

/** One flag of a script: everything its parser, checks, `--help` and CSV need. */
export interface Flag {
  /** Its name, without `--`. */
  readonly name: string;
  readonly type: FlagType;
  /** The value's placeholder in `--help` (`N`, `X`, `NAME`, ...); by default from the type. */
  readonly arg?: string;
  /** `int` and `real`: the smallest value. */
  readonly min?: number;
  /** `int` and `real`: the largest value, or a function of other flags where it depends on them. */
  readonly max?: number | ((get: Get) => number);
  /** `real`: `min` itself is refused. */
  readonly minOpen?: boolean;
  /** `choice` and `names`: the names allowed. */
  readonly choices?: readonly string[];
  /** `int` and `choice`: a comma list of such values, each checked, none twice. */
  readonly list?: boolean;
  /** The value when the flag is absent; a function of other flags' values where it depends on them. */
  readonly default?: unknown;
  /** What it does, for `--help`: `{range}` and `{default}` place those; else `, <range> (default <d>)` follow. */
  readonly help: string;
  /** The values allowed, in words, where the type's own (`1..4096`, `(0, 10]`, `a|b`) will not do. */
  readonly range?: string;
  /** How `--help` shows the default: fixed words, or words from the value. */
  readonly show?: string | ((value: never) => string);
  /** The column of the experiment CSV that records it. */
  readonly column?: string;
  /** What that column holds, from the script's config, where it is not the flag's value as is. */
  readonly record?: (config: never) => string | number | boolean;
  /** The field of the script's config that takes its value. */
  readonly key?: string;
  /** `custom`: the value from what was typed; throws a UsageError naming the flag. */
  readonly parse?: (raw: string, get: Get) => unknown;
  /** A check of the value beyond its type (a name's form); throws a UsageError. */
  readonly check?: (value: never) => void;
}

type Choice<F> = F extends { choices: readonly (infer C)[] } ? C : string;
type One<F> = F extends { type: "int" | "real" } ? number
  : F extends { type: "bool" } ? boolean
  : F extends { type: "choice" | "names" } ? Choice<F>
  : F extends { parse: (raw: string, get: Get) => infer V } ? V
  : string;
/** The value a flag row parses to. */
export type ValueOf<F> = F extends { list: true } | { type: "names" } ? One<F>[] : One<F>;
/** The values a table parses to, by flag name. */
export type Values<T extends readonly Flag[]> = { -readonly [F in T[number] as F["name"]]: ValueOf<F> };

/** A parsed command line. */
export interface Parsed<T extends readonly Flag[]> {
  values: Values<T>;
  /** The flags the command line gave (the others took their defaults). */
  given: ReadonlySet<string>;
  positionals: string[];
}

/** The `node:util` parseArgs options of a table, `-h, --help` added. */
export function parserOptions(flags: readonly Flag[]): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries([
    ...flags.map((f) => [f.name, { type: f.type === "bool" ? "boolean" : "string" }] as const),
    ["help", { type: "boolean", short: "h" }],
  ]);
}

/** `flags` with the defaults in `defaults` (by flag name) in place of their own. */
export function withDefaults<T extends readonly Flag[]>(flags: T, defaults: Record<string, unknown>): T {
  return flags.map((f) => f.name in defaults ? { ...f, default: defaults[f.name] } : f) as unknown as T;
}

const maxOf = (f: Flag, get: Get) => typeof f.max === "function" ? f.max(get) : f.max ?? Number.MAX_SAFE_INTEGER;

/** A comma list, each item by `one`, none twice; absent gives `fallback`. */
function eachOf<V>(f: Flag, raw: string | undefined, fallback: unknown, one: (item: string) => V): V[] {
  if (raw === undefined) return fallback as V[];
  const list = raw.split(",").map(one);
  if (new Set(list).size !== list.length) throw new UsageError(`--${f.name} must list distinct values, got "${raw}"`);
  return list;
}

/** One flag's value from what was typed (`raw`, undefined when absent), checked as its row says. */
function valueOf(f: Flag, raw: string | boolean | undefined, get: Get, task?: string): unknown {
  const fallback = typeof f.default === "function" ? f.default(get) : f.default;
  const text = raw as string | undefined, min = f.min ?? 0, choices = f.choices ?? [];
  let v: unknown;
  switch (f.type) {
    case "int":
      v = f.list
        ? eachOf(f, text, fallback, (s) => int(f.name, s, 0, min, maxOf(f, get)))
        : int(f.name, text, fallback as number, min, maxOf(f, get));
      break;
    case "real":
      v = real(f.name, text, fallback as number, min, maxOf(f, get), f.minOpen);
      break;
    case "choice":
      v = f.list
        ? eachOf(f, text, fallback, (s) => oneOf(f.name, s, "", choices))
        : oneOf(f.name, text, fallback as string, choices);
      break;
    case "names":
      v = listOf(f.name, text, fallback as string[], choices);
      break;
    case "bool":
      v = raw ?? fallback ?? false;
      break;
    case "custom":
      v = text === undefined ? fallback : f.parse!(text, get);
      break;
    case "dir":
    case "file": {
      const path = text ?? fallback as string;
      // With the task known the path is checked in full; parseRunArgs, run without one, checks only that it is named.
      if (task) (f.type === "dir" ? assertWritable : assertWritableFile)(`--${f.name}`, path, task);
      else assertNamed(`--${f.name}`, path, f.type === "dir" ? "directory" : "file");
      v = path;
      break;
    }
    case "text":
      v = text ?? fallback;
  }
  (f.check as ((value: unknown) => void) | undefined)?.(v);
  return v;
}

/**
 * Parses `argv` by the table `flags`: unknown flags, repeated flags, missing
 * values and values out of range are {@linkcode UsageError}s naming the flag;
 * absent flags take their defaults. Flags are read in table order, except
 * that a flag whose range or default depends on another reads that one
 * first. `task` names the script for the checks of `dir` and `file` flags
 * (without it those are only checked to be named). Returns null when
 * `--help` was asked for.
 */
export function parseTable<T extends readonly Flag[]>(
  flags: T,
  argv: string[],
  opts: { positionals?: boolean; task?: string } = {},
): Parsed<T> | null {
  const { values: raw, positionals } = parseFlags(argv, parserOptions(flags), opts.positionals);
  if (raw.help) return null;
  const rows = new Map(flags.map((f) => [f.name, f]));
  const done = new Map<string, unknown>(), reading = new Set<string>();
  const get: Get = (name) => {
    if (done.has(name)) return done.get(name);
    const f = rows.get(name);
    if (!f || reading.has(name)) {
      throw new Error(`flag table: --${name} is ${f ? "in a circle of flags" : "not in it"}`);
    }
    reading.add(name);
    done.set(name, valueOf(f, raw[name] as string | boolean | undefined, get, opts.task));
    reading.delete(name);
    return done.get(name);
  };
  const values = Object.fromEntries(flags.map((f) => [f.name, get(f.name)])) as Values<T>;
  const given = new Set(flags.map((f) => f.name).filter((n) => raw[n] !== undefined));
  return { values, given, positionals };
}

// ---------------------------------------------------------------- --help

/** Where a flag's words start in `--help`, and the width they wrap at. */
const HELP_INDENT = 22, HELP_WIDTH = 112;

const ARG: Record<FlagType, string> = {
  int: "N",
  real: "X",
  choice: "NAME",
  names: "LIST",
  text: "TEXT",
  dir: "DIR",
  file: "FILE",
  bool: "",
  custom: "VALUE",
};

/** A flag's placeholder in `--help`: `N`, `X`, `NAME`, ... (`LIST` for a list). */
export const argOf = (f: Flag): string => f.arg ?? (f.list ? "LIST" : ARG[f.type]);

/** The values a flag allows, in words, as its errors state them (`1..4096`, `(0, 10]`, `rnn|lstm`). */
export function rangeText(f: Flag): string {
  if (f.range !== undefined) return f.range;
  if (f.type === "int" && typeof f.max === "function") throw new Error(`flag table: --${f.name} needs a range text`);
  const choices = (f.choices ?? []).join(f.list || f.type === "names" ? ", " : "|");
  switch (f.type) {
    case "int":
      return `${f.list ? "comma-separated, each " : ""}${f.min}..${f.max}`;
    case "real":
      return interval(f.min ?? 0, f.max as number, f.minOpen);
    case "choice":
    case "names":
      return f.list || f.type === "names" ? `comma-separated, from ${choices}` : choices;
    default:
      return "";
  }
}

/** How `--help` shows a flag's default `value`. */
export function defaultText(f: Flag, value: unknown): string {
  if (typeof f.show === "string") return f.show;
  if (f.show) return f.show(value as never);
  if (typeof value === "function" || value === undefined) {
    throw new Error(`flag table: --${f.name} needs a default${value ? " in words (show)" : ""}`);
  }
  return Array.isArray(value) ? value.join(",") : String(value);
}

/** A flag's words in `--help`: what it does, the values it allows, its default (a switch's only with `show`). */
export function describe(f: Flag): string {
  let text = f.help;
  const range = rangeText(f);
  if (range && !text.includes("{range}")) text += ", {range}";
  if (!text.includes("{default}") && (f.type !== "bool" || f.show !== undefined)) text += " (default {default})";
  return text.replace("{range}", () => range).replace("{default}", () => defaultText(f, f.default));
}

/**
 * `head` then `text`, word-wrapped at {@linkcode HELP_WIDTH}: after a head,
 * at {@linkcode HELP_INDENT} on every line; without one, from the margin.
 */
function wrap(head: string, text: string): string {
  const indent = head ? HELP_INDENT : 0, lines: string[] = [];
  let line = !head ? "" : head.length <= indent - 2 ? head.padEnd(indent) : `${head}  `, fresh = true;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (!fresh && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = " ".repeat(indent);
      fresh = true;
    }
    line += (fresh ? "" : " ") + word;
    fresh = false;
  }
  return [...lines, line].join("\n");
}

/** Paragraphs (separated by a blank line) each reflowed to {@linkcode HELP_WIDTH}. */
const reflow = (text: string) => text.split(/\n\s*\n/).map((p) => wrap("", p)).join("\n\n");

/** A flag's entry in `--help`: `  --name ARG   words, range (default d)`, wrapped. */
export function helpLine(f: Flag): string {
  const arg = argOf(f);
  return wrap(`  --${f.name}${arg ? ` ${arg}` : ""}`, describe(f));
}

/** A script's command line: what `--help` says of it and the table its flags are parsed by. */
export interface Command<T extends readonly Flag[] = readonly Flag[]> {
  /** The deno task that runs it. */
  task: string;
  /** One paragraph on what it does, first in `--help`. */
  about?: string;
  /** Its positional arguments, `[NAME, words]` each; a script without the field takes none. */
  args?: readonly (readonly [string, string])[];
  flags: T;
  /** Paragraphs after the flags (how it resumes, what it writes). */
  notes?: string;
}

/**
 * The `--help` of a command: what it does, its usage line (every flag in
 * it where they fit on one line, else `[flags]`), one entry per positional
 * argument and flag with its range and default, its notes and the exit codes;
 * every paragraph wrapped to {@linkcode HELP_WIDTH} characters.
 */
export function helpText(cmd: Command): string {
  const lead = ["usage: deno task", cmd.task, ...(cmd.args ?? []).map(([name]) => name)].join(" ");
  const full = [lead, ...cmd.flags.map((f) => `[--${f.name}${argOf(f) ? ` ${argOf(f)}` : ""}]`)].join(" ");
  const usage = full.length <= HELP_WIDTH ? full : `${lead} [flags]`;
  const entries = [
    ...(cmd.args ?? []).map(([name, words]) => wrap(`  ${name}`, words)),
    ...cmd.flags.map(helpLine),
    wrap("  -h, --help", "this text"),
  ];
  const about = cmd.about && reflow(cmd.about), notes = cmd.notes && reflow(cmd.notes);
  return [about, usage, entries.join("\n"), notes, EXIT_CODES].filter((p) => p).join("\n\n");
}

/**
 * Parses `argv` by `cmd`'s table, then `rules` (the checks between flags)
 * over the result, inside {@linkcode parseOrExit}: bad input prints one line
 * and exits 2; `--help` prints {@linkcode helpText} and exits 0.
 */
export function parseCommandOrExit<T extends readonly Flag[], R>(
  cmd: Command<T>,
  argv: string[],
  rules: (parsed: Parsed<T>) => R,
): R {
  return parseOrExit(() => {
    const parsed = parseTable(cmd.flags, argv, { positionals: cmd.args !== undefined, task: cmd.task });
    if (parsed) return rules(parsed);
    console.log(helpText(cmd));
    Deno.exit(0);
  });
}

// ---------------------------------------------------------------- CSV columns

/** The CSV columns a table's flags are recorded in, in table order. */
export function flagColumns(flags: readonly Flag[]): string[] {
  return flags.flatMap((f) => (f.column ? [f.column] : []));
}

/** A config's cells in those columns: each flag's `record` of it, else the value of the flag's `key`. */
export function flagCells(flags: readonly Flag[], config: object): Record<string, string | number | boolean> {
  const c = config as Record<string, string | number | boolean>;
  return Object.fromEntries(
    flags.flatMap((f) =>
      f.column
        ? [[f.column, f.record ? (f.record as (c: object) => string | number | boolean)(config) : c[f.key!]]]
        : []
    ),
  );
}

/** `--shard i/n` for a sweep of at most `max` parts. */
export function shardFlag(max: number, help: string) {
  return {
    name: "shard",
    type: "custom",
    arg: "i/n",
    parse: (raw: string): Shard => parseShard(raw, max),
    default: { shard: 1, shards: 1 } as Shard,
    show: "1/1",
    range: `1 <= i <= n <= ${max}`,
    help,
  } as const;
}
