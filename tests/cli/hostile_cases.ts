/**
 * The hostile suite's table (issue 14, section 7): every case runs one task
 * as a user would (tests/cli/hostile_test.ts) and states the exit code and the
 * one line it must print on stderr. In `args`, `$DIR` is the case's own
 * fresh temp dir (the only place besides results/ it may write) and `$RES`
 * its folder under results/ (relative to results/, for manifests, which
 * name files there); `setup` prepares files before the run (throw
 * {@linkcode Skip} where the machine cannot), `cleanup` undoes what must be
 * undone (chattr -i, umount). A case that must work (`code` 0) prints
 * nothing on stderr and `wrote` checks what it wrote under `$DIR`.
 */
import { DATA_GENERATOR, LEGACY_DATA_GENERATOR } from "../../lib/echo_bits.ts";
import { type CellKind } from "../../lib/models.ts";
import { gridPoints, SHARD_COLUMNS, shardFileName, shardPoints } from "../../lib/capacity.ts";
import { PER_SEED_COLUMNS } from "../../lib/parity.ts";
import { refusesWrites } from "../_run.ts";

/** The classes of issue 14, section 7. */
export type CaseClass = "flags" | "out" | "input" | "env";

/** What a case's setup and checks know about where it runs. */
export interface Ctx {
  /** The case's own temp dir (absolute). */
  dir: string;
  /** Its folder under results/, relative to results/ (created on first use by `resDir`). */
  res: string;
  /** The repository root. */
  root: string;
}

export interface Case {
  cls: CaseClass;
  /** What the case is, where its command line does not say. */
  what?: string;
  /** A task of deno.json ("exp:echo3", "merge", "bench", ...): run with its own permissions plus `$DIR`. */
  task: string;
  args: string[];
  code: number;
  /** The one line on stderr (required unless `code` is 0, when stderr must be empty). */
  err?: RegExp;
  /** Extra environment for the run. */
  env?: Record<string, string>;
  /** Run on a pseudo-terminal (util-linux `script`), stdout and stderr as one stream: only exit code and no escapes. */
  pty?: boolean;
  /** Prepares files; may return values for placeholder arguments (an argument equal to a key is replaced). */
  setup?: (c: Ctx) => void | Placeholders | Promise<void | Placeholders>;
  cleanup?: (c: Ctx) => void | Promise<void>;
  /** For a run that must work: what it wrote (paths relative to `$DIR`, new or changed); a complaint or null. */
  wrote?: (files: string[], stdout: string) => string | null;
  /** Run only in the slow part (ECHOLAB_SLOW=1): a run that takes seconds, or past the fast part's share. */
  slow?: boolean;
  /** Leave results/ out of the run's write permission (bench: a run that wrongly starts would write there). */
  resultsReadOnly?: boolean;
}

/** Values of placeholder arguments such as `@1`, made by a setup. */
export type Placeholders = Record<string, string>;

/** Thrown by a setup where this machine cannot make the case (not root, no chattr, no adapter). */
export class Skip extends Error {}

// ---------------------------------------------------------------- helpers

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** `^error: <text>$`, the text literal. */
const line = (text: string) => new RegExp(`^error: ${esc(text)}$`);
const intRange = (flag: string, min: number, max: number, got: string) =>
  line(`--${flag} must be an integer in ${min}..${max}, got "${got}"`);
const realRange = (flag: string, range: string, got: string) =>
  line(`--${flag} must be a number in ${range}, got "${got}"`);
const twice = (flag: string) => line(`--${flag} given twice`);
const unknown = (flag: string) => new RegExp(`^error: Unknown option '${esc(flag)}'`);
const missing = (flag: string) => new RegExp(`^error: Option '${esc(flag)} <value>' argument missing$`);
const positional = (arg: string) => new RegExp(`^error: Unexpected argument '${esc(arg)}'`);

/** Runs bash with `script`, arguments in $1..; its exit code and output. */
export async function bash(
  script: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("bash", { args: ["-c", script, "bash", ...args], stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Makes `dir` read-only (chmod 555, and as root chattr +i), or throws Skip. */
export async function makeReadOnly(dir: string): Promise<void> {
  Deno.chmodSync(dir, 0o555);
  if (refusesWrites(dir)) return;
  try {
    await new Deno.Command("chattr", { args: ["+i", dir], stderr: "null" }).output();
  } catch { /* no chattr, or not allowed to start it */ }
  if (!refusesWrites(dir)) throw new Skip("cannot make a folder read-only here (root without chattr +i)");
}

/** Undoes {@linkcode makeReadOnly} so that the temp dir can be removed. */
export async function makeWritable(dir: string): Promise<void> {
  try {
    await new Deno.Command("chattr", { args: ["-i", dir], stderr: "null" }).output();
  } catch { /* was not made immutable */ }
  try {
    Deno.chmodSync(dir, 0o755);
  } catch { /* gone */ }
}

/** A FIFO at `path`: opening it to read waits for a writer for ever. */
async function mkfifo(path: string): Promise<void> {
  const r = await bash('mkfifo "$1"', path);
  if (r.code !== 0) throw new Skip(`mkfifo failed: ${r.stderr.trim()}`);
}

/** A symbolic link at `path` to `target` (ln -s: Deno makes links only with unscoped permissions). */
async function symlink(target: string, path: string): Promise<void> {
  Deno.mkdirSync(path.replace(/\/[^/]*$/, ""), { recursive: true });
  const r = await bash('ln -s "$1" "$2"', target, path);
  if (r.code !== 0) throw new Error(`ln -s: ${r.stderr.trim()}`);
}

/** Writes `text` at `path`, making its folders. */
function put(path: string, text: string | Uint8Array): void {
  Deno.mkdirSync(path.replace(/\/[^/]*$/, "") || "/", { recursive: true });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
}

/** The case's folder under results/ (absolute), made. */
export function resDir(c: Ctx): string {
  const abs = `${c.root}results/${c.res}`;
  Deno.mkdirSync(abs, { recursive: true });
  return abs;
}

// ---------------------------------------------------------------- fixtures: capacity shards

const GRID = { cells: ["rnn", "lstm"] as CellKind[], hiddens: [4], echoMax: 5 };
const GRID_ID = "abcd1234", GRID_SIZE = 10;

interface ShardOpts {
  grid?: string;
  shards?: number;
  seeds?: number;
  cells?: CellKind[];
}

/** Shard `i` of `n` (default 3) of a 10-point grid (rnn, lstm x H 4 x echo 1..5), as exp:capacity writes it. */
export function shardText(i: number, o: ShardOpts = {}): string {
  const n = o.shards ?? 3;
  const mine = shardPoints(gridPoints({ ...GRID, cells: o.cells ?? GRID.cells }), i, n);
  const rows = mine.map((p) => {
    const row: Record<string, string | number> = {
      grid_id: o.grid ?? GRID_ID,
      data_generator: DATA_GENERATOR,
      shard: i,
      shards: n,
      points: mine.length,
      cell: p.cell,
      hidden: p.hidden,
      echo_step: p.echoStep,
      seeds: o.seeds ?? 10,
      successes: p.echoStep <= 3 ? 6 : 2,
      test_acc_median: 99.5,
      epochs: 5,
      bptt: 50,
      seconds: 1.5,
    };
    return SHARD_COLUMNS.map((c) => row[c]).join(",");
  });
  return [SHARD_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

/** The file name of shard `i` of `n` of the fixture grid. */
export const shardName = (i: number, n = 3, grid = GRID_ID, tag = "aaaa") =>
  shardFileName(i, n, grid, GRID_SIZE, `20261130-000000-${tag}`);

/** Writes shards 2 and 3 of 3 under `$DIR/in/` and returns their paths (shard 1 is the case's). */
function otherShards(dir: string): string[] {
  return [2, 3].map((i) => {
    const path = `${dir}/in/${shardName(i)}`;
    put(path, shardText(i));
    return path;
  });
}

/** CSV text with line `line` (the header is line 1) given `value` in column `col`. */
export function setField(text: string, lineNo: number, col: string, value: string): string {
  const lines = text.split("\n");
  const k = lines[0].split(",").indexOf(col);
  if (k < 0) throw new Error(`no column ${col}`);
  const fields = lines[lineNo - 1].split(",");
  fields[k] = value;
  lines[lineNo - 1] = fields.join(",");
  return lines.join("\n");
}

/** Writes the three good shards under `$DIR/in/`; their paths as @1..@3. */
function threeShards({ dir }: Ctx): Placeholders {
  const paths = [1, 2, 3].map((i) => `${dir}/in/${shardName(i)}`);
  paths.forEach((p, i) => put(p, shardText(i + 1)));
  return { "@1": paths[0], "@2": paths[1], "@3": paths[2] };
}

const S1 = shardName(1);
const GOOD1 = shardText(1);

/**
 * A merge case: shard 1 replaced by what `input` makes (text, bytes, or a
 * function returning the path to pass), the good shards 2 and 3 given too.
 */
function mergeCase(
  what: string,
  input: string | Uint8Array | ((dir: string) => string | Promise<string>),
  err: RegExp,
): Case {
  return {
    what,
    cls: "input",
    task: "merge",
    args: ["@1", "@2", "@3", "--out", "$DIR/out/capacity.csv"],
    code: 2,
    err,
    setup: async ({ dir }) => {
      const [p2, p3] = otherShards(dir);
      let p1 = `${dir}/in/${S1}`;
      if (typeof input === "function") p1 = await input(dir);
      else put(p1, input);
      return { "@1": p1, "@2": p2, "@3": p3 };
    },
  };
}

/** A shard that is valid CSV however it is spelled (CRLF, a BOM, quotes): merge takes it and writes --out. */
function mergeOk(what: string, text: string): Case {
  return {
    ...mergeCase(what, text, /^$/),
    code: 0,
    err: undefined,
    wrote: (files) => (files.includes("out/capacity.csv") ? null : `no out/capacity.csv (wrote ${files.join(", ")})`),
  };
}

// ---------------------------------------------------------------- fixtures: report

/** The published manifest, parsed. */
function manifest(root: string): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(`${root}results/manifest.json`));
}

/** The published file `p` (relative to results/). */
const published = (root: string, p: string) => Deno.readTextFileSync(`${root}results/${p}`);

/**
 * A report case: writes `files` (relative to the case's results folder;
 * a function gets the published text of the file the manifest names at that
 * key, via `pub`), then a manifest changed by `edit` (given the case's
 * results-relative folder) at `$DIR/manifest.json`.
 */
function reportCase(
  what: string,
  err: RegExp,
  edit: (m: Record<string, unknown>, res: string) => void,
  files: Record<string, (pub: (p: string) => string, m: Record<string, unknown>) => string | Uint8Array> = {},
  special?: (resAbs: string) => void | Promise<void>,
): Case {
  return {
    what,
    cls: "input",
    task: "report",
    args: ["--out", "$DIR/out", "--manifest", "$DIR/manifest.json"],
    code: 2,
    err,
    setup: async (c) => {
      const m = manifest(c.root);
      const abs = resDir(c);
      for (const [name, make] of Object.entries(files)) put(`${abs}/${name}`, make((p) => published(c.root, p), m));
      await special?.(abs);
      edit(m, c.res);
      Deno.writeTextFileSync(`${c.dir}/manifest.json`, JSON.stringify(m, null, 2));
    },
  };
}

/** A report case whose manifest is the text `text` itself. */
function manifestText(what: string, text: string | Uint8Array, err: RegExp): Case {
  return {
    what,
    cls: "input",
    task: "report",
    args: ["--out", "$DIR/out", "--manifest", "$DIR/manifest.json"],
    code: 2,
    err,
    setup: ({ dir }) => put(`${dir}/manifest.json`, text),
  };
}

// ---------------------------------------------------------------- class 1: bad flags

/** Where a case's task writes, so that a run that wrongly starts writes into `$DIR`, never results/. */
function outFor(task: string): string[] {
  if (task === "merge") return ["--out", "$DIR/out/capacity.csv"];
  if (task === "bench" || task === "migrate") return [];
  return ["--out", "$DIR/out"];
}

/** A bad-flag case: exit 2, one line, nothing written. */
const flag = (task: string, args: string[], err: RegExp): Case => ({
  cls: "flags",
  task,
  args: [...outFor(task), ...args],
  code: 2,
  err,
  resultsReadOnly: task === "bench",
});

const SEEDS_4097 = Array.from({ length: 4097 }, (_, i) => i).join(",");
const ZERO_FILL = /^error: --echo-step 1999 with --series 2000 makes 100\.0% of the targets zero fill \(at most 10%/;
const OVER_BUDGET = /^error: this run needs about \d+\.\d GiB \(.*\), over the --max-memory budget of 4 GiB; /;

/** Every kind of bad value on exp:echo3, the experiment the others share their flags with. */
const ECHO3_FLAGS: Case[] = [
  flag("exp:echo3", ["--hidden", "abc"], intRange("hidden", 1, 4096, "abc")),
  flag("exp:echo3", ["--hidden", "0x10"], intRange("hidden", 1, 4096, "0x10")),
  flag("exp:echo3", ["--epochs", "0b1"], intRange("epochs", 1, 10000, "0b1")),
  flag("exp:echo3", ["--batch", "0o7"], intRange("batch", 1, 4096, "0o7")),
  flag("exp:echo3", ["--hidden", "Infinity"], intRange("hidden", 1, 4096, "Infinity")),
  flag("exp:echo3", ["--lr", "Infinity"], realRange("lr", "(0, 10]", "Infinity")),
  flag("exp:echo3", ["--lr", "1e999"], realRange("lr", "(0, 10]", "1e999")),
  flag("exp:echo3", ["--epochs", "1e999"], intRange("epochs", 1, 10000, "1e999")),
  flag("exp:echo3", ["--hidden", "NaN"], intRange("hidden", 1, 4096, "NaN")),
  flag("exp:echo3", ["--clip", "NaN"], realRange("clip", "[0, 1000000]", "NaN")),
  flag("exp:echo3", ["--hidden", "-3"], intRange("hidden", 1, 4096, "-3")),
  flag("exp:echo3", ["--hidden=-3"], intRange("hidden", 1, 4096, "-3")),
  flag("exp:echo3", ["--lr", "-0.1"], realRange("lr", "(0, 10]", "-0.1")),
  flag("exp:echo3", ["--seed", "-1"], intRange("seed", 0, 4294967295, "-1")),
  flag("exp:echo3", ["--hidden", "0"], intRange("hidden", 1, 4096, "0")),
  flag("exp:echo3", ["--layers", "0"], intRange("layers", 1, 64, "0")),
  flag("exp:echo3", ["--lr", "0"], realRange("lr", "(0, 10]", "0")),
  flag("exp:echo3", ["--max-memory", "0"], realRange("max-memory", "(0, 1000000]", "0")),
  flag("exp:echo3", ["--hidden", "4097"], intRange("hidden", 1, 4096, "4097")),
  flag("exp:echo3", ["--layers", "65"], intRange("layers", 1, 64, "65")),
  flag("exp:echo3", ["--batch", "4097"], intRange("batch", 1, 4096, "4097")),
  flag("exp:echo3", ["--epochs", "10001"], intRange("epochs", 1, 10000, "10001")),
  flag("exp:echo3", ["--seeds", "4097"], intRange("seeds", 1, 4096, "4097")),
  flag("exp:echo3", ["--series", "10000001"], intRange("series", 1, 10000000, "10000001")),
  flag("exp:echo3", ["--seed", "4294967296"], intRange("seed", 0, 4294967295, "4294967296")),
  flag("exp:echo3", ["--lr", "10.000001"], realRange("lr", "(0, 10]", "10.000001")),
  flag("exp:echo3", ["--seeds", SEEDS_4097], line("--seeds must list at most 4096 seeds, got 4097")),
  flag(
    "exp:echo3",
    ["--seeds", "4096", "--seed", "4294967295"],
    line("--seeds 4096 from --seed 4294967295 passes 4294967295"),
  ),
  flag("exp:echo3", ["--seeds", "7,8,7"], line('--seeds must list distinct seeds, got "7,8,7"')),
  flag("exp:echo3", ["--seeds", "1,,2"], intRange("seeds", 0, 4294967295, "")),
  flag("exp:echo3", ["--hidden", "4", "--hidden", "8"], twice("hidden")),
  flag("exp:echo3", ["--fixed-series", "--fixed-series"], twice("fixed-series")),
  flag("exp:echo3", ["--seed", "1", "--seeds", "2,3"], /^error: --seed 1 cannot be given with a list in --seeds/),
  flag("exp:echo3", ["--frobnicate"], unknown("--frobnicate")),
  flag("exp:echo3", ["-x"], unknown("-x")),
  flag("exp:echo3", ["extra"], positional("extra")),
  flag("exp:echo3", ["--hidden"], missing("--hidden")),
  flag("exp:echo3", ["--fixed-series=yes"], /^error: Option '--fixed-series' does not take an argument$/),
  flag("exp:echo3", ["--cell", "transformer"], line('--cell must be one of rnn, lstm, gru, irnn, got "transformer"')),
  flag("exp:echo3", ["--optimizer", "sgd"], line('--optimizer must be one of rmsprop, adam, got "sgd"')),
  flag("exp:echo3", ["--kernel", "magic"], line('--kernel must be one of auto, fused, op, got "magic"')),
  flag("exp:echo3", ["--backend", "tpu"], /^error: --backend must be one of auto, cpu, wasm, webgpu, .*got "tpu"$/),
  flag("exp:echo3", ["--cell", ""], /^error: --cell must be one of rnn, lstm, gru, irnn, got ""$/),
  flag("exp:echo3", ["--identity-scale", "2"], line("--identity-scale applies to --cell irnn only, got --cell rnn")),
  flag("exp:echo3", ["--series", "1000", "--bptt", "30"], line("--series 1000 must be divisible by --bptt 30")),
  flag("exp:echo3", ["--echo-step", "1999", "--series", "2000"], ZERO_FILL),
  flag(
    "exp:echo3",
    ["--name", "../x"],
    /^error: --name must be 1-64 letters, digits, '\.', '_' or '-', got "\.\.\/x"$/,
  ),
  flag("exp:echo3", ["--hidden", "4096", "--seeds", "64", "--series", "200"], OVER_BUDGET),
  flag(
    "exp:echo3",
    ["--backend", "wasm", "--kernel", "op", "--cell", "lstm", "--hidden", "512", "--layers", "2", "--seeds", "8"]
      .concat(["--batch", "64", "--series", "20", "--bptt", "20", "--echo-step", "1", "--max-memory", "100"]),
    /^error: this run needs about \d+\.\d GiB of tensors \(op-level activations .*over the 3\.0 GiB the wasm backend can hold/,
  ),
];

/** The same kinds, spread over the other experiments (each form on at least one more task). */
const OTHER_EXPERIMENT_FLAGS: Case[] = [
  ["exp:data", ["--seed", "0x10"], intRange("seed", 0, 4294967295, "0x10")],
  ["exp:data", ["--echo-step", "0b1"], intRange("echo-step", 1, 19999, "0b1")],
  ["exp:data", ["--echo-step", "-3"], intRange("echo-step", 1, 19999, "-3")],
  ["exp:data", ["--batch", "4097"], intRange("batch", 1, 4096, "4097")],
  ["exp:data", ["--seed", "1", "--seed", "2"], twice("seed")],
  ["exp:data", ["--echo-step", "1999", "--series", "2000"], ZERO_FILL],
  ["exp:data", ["--bptt"], missing("--bptt")],
  ["exp:echo10-h4", ["--hidden", "Infinity"], intRange("hidden", 1, 4096, "Infinity")],
  ["exp:echo10-h4", ["--epochs=-3"], intRange("epochs", 1, 10000, "-3")],
  ["exp:echo10-h4", ["--layers", "65"], intRange("layers", 1, 64, "65")],
  ["exp:echo10-h4", ["--seed", "3", "--seeds", "4,5"], /^error: --seed 3 cannot be given with a list in --seeds/],
  ["exp:echo10-h4", ["--cell", "lstm", "--identity-scale", "0.5"], /--identity-scale applies to --cell irnn only/],
  ["exp:echo10-h4", ["--optimizer", "adamw"], line('--optimizer must be one of rmsprop, adam, got "adamw"')],
  ["exp:echo10-h60", ["--batch", "1e999"], intRange("batch", 1, 4096, "1e999")],
  ["exp:echo10-h60", ["--hidden", "-3"], intRange("hidden", 1, 4096, "-3")],
  ["exp:echo10-h60", ["--epochs", "10001"], intRange("epochs", 1, 10000, "10001")],
  ["exp:echo10-h60", ["--kernel", "fast"], line('--kernel must be one of auto, fused, op, got "fast"')],
  ["exp:echo10-h60", ["--series", "999", "--bptt", "20"], line("--series 999 must be divisible by --bptt 20")],
  ["exp:echo10-h60", ["--seeds", "4096", "--kernel", "op"], OVER_BUDGET],
  ["exp:echo10-deep", ["--layers", "NaN"], intRange("layers", 1, 64, "NaN")],
  ["exp:echo10-deep", ["--layers=-1"], intRange("layers", 1, 64, "-1")],
  ["exp:echo10-deep", ["--seeds", SEEDS_4097], line("--seeds must list at most 4096 seeds, got 4097")],
  ["exp:echo10-deep", ["--layers", "3", "--layers", "6"], twice("layers")],
  ["exp:echo10-deep", ["--depth", "6"], unknown("--depth")],
  ["exp:echo10-deep", ["--hidden", "4096", "--seeds", "2"], OVER_BUDGET],
  ["exp:gradients", ["--hidden", "0b11"], intRange("hidden", 1, 4096, "0b11")],
  ["exp:gradients", ["--lr", "-1e-3"], realRange("lr", "(0, 10]", "-1e-3")],
  ["exp:gradients", ["--seeds", "0"], intRange("seeds", 1, 4096, "0")],
  ["exp:gradients", ["--echo-step", "41"], /^error: --echo-step must be an integer in 1\.\.40 for exp:gradients/],
  [
    "exp:gradients",
    ["--cell", "rnn", "--identity-scale", "2"],
    line("--identity-scale applies to --cell irnn only, got --cell rnn"),
  ],
  ["exp:gradients", ["--cell", "gru", "--cell", "lstm"], twice("cell")],
  ["exp:gradients", ["--backend", "gpu"], /^error: --backend must be one of .*got "gpu"$/],
].map(([task, args, err]) => flag(task as string, args as string[], err as RegExp));

/** --threads (issue 16, part 3): its range, the backends that run in one thread, scripts that train in one, sweeps' cores. */
const BOTH = (jobs: number, threads: number) =>
  new RegExp(`^error: --jobs ${jobs} x --threads ${threads} is ${jobs * threads} threads, more than the \\d+ core`);
const THREADS_FLAGS: Case[] = [
  flag("exp:echo3", ["--threads", "0"], intRange("threads", 1, 256, "0")),
  flag("exp:echo3", ["--threads", "257"], intRange("threads", 1, 256, "257")),
  flag("exp:echo10-h60", ["--threads", "1.5"], intRange("threads", 1, 256, "1.5")),
  flag("exp:echo10-h4", ["--threads", "2", "--threads", "2"], twice("threads")),
  flag(
    "exp:echo3",
    ["--threads", "2", "--backend", "webgpu"],
    line(
      "--threads 2 needs --backend cpu or wasm (workers of one process); --backend webgpu runs in one thread " +
        "(--threads 1)",
    ),
  ),
  flag("exp:data", ["--threads", "2"], /^error: --threads does not apply to exp:data \(it takes /),
  flag("exp:gradients", ["--threads", "2"], /^error: --threads does not apply to exp:gradients \(it takes /),
  flag("exp:memory", ["--threads", "0"], intRange("threads", 1, 256, "0")),
  flag("exp:memory", ["--jobs", "256", "--threads", "256"], BOTH(256, 256)),
  flag("exp:parity", ["--threads", "-1"], intRange("threads", 1, 256, "-1")),
  flag("exp:parity", ["--jobs", "200", "--threads", "200"], BOTH(200, 200)),
];

const SHARD_RE = (got: string) => line(`--shard must be i/n with 1 <= i <= n <= 10000, got "${got}"`);

const CAPACITY_FLAGS: Case[] = [
  flag("exp:capacity", ["--seeds", "0x10"], intRange("seeds", 1, 4096, "0x10")),
  flag("exp:capacity", ["--seeds", "4097"], intRange("seeds", 1, 4096, "4097")),
  flag("exp:capacity", ["--epochs", "Infinity"], intRange("epochs", 1, 10000, "Infinity")),
  flag("exp:capacity", ["--hiddens", "4,-3"], intRange("hiddens", 1, 4096, "-3")),
  flag("exp:capacity", ["--hiddens", "4097"], intRange("hiddens", 1, 4096, "4097")),
  flag("exp:capacity", ["--hiddens", "2,4,2"], line('--hiddens must list distinct values, got "2,4,2"')),
  flag("exp:capacity", ["--hiddens", ""], intRange("hiddens", 1, 4096, "")),
  flag("exp:capacity", ["--cells", ""], line('--cells must be one of rnn, lstm, gru, irnn, got ""')),
  flag("exp:capacity", ["--cells", "rnn,lstm,gru,irnn,rnn"], /^error: --cells must list distinct values/),
  flag(
    "exp:capacity",
    ["--cells", "rnn,transformer"],
    line('--cells must be one of rnn, lstm, gru, irnn, got "transformer"'),
  ),
  flag("exp:capacity", ["--echo-max", "0"], intRange("echo-max", 1, 50, "0")),
  flag("exp:capacity", ["--echo-max", "51"], intRange("echo-max", 1, 50, "51")),
  flag(
    "exp:capacity",
    ["--series", "2000", "--bptt", "2000", "--echo-max", "1999"],
    /^error: --echo-max 1999 with --series 2000 makes 100\.0% of the targets zero fill/,
  ),
  flag("exp:capacity", ["--group", "41"], intRange("group", 1, 40, "41")),
  flag("exp:capacity", ["--shard", "0/1"], SHARD_RE("0/1")),
  flag("exp:capacity", ["--shard", "1/10001"], SHARD_RE("1/10001")),
  flag("exp:capacity", ["--shard", "1/2", "--shard", "2/2"], twice("shard")),
  flag("exp:capacity", ["--max-memory", "-1"], realRange("max-memory", "(0, 1000000]", "-1")),
  flag("exp:capacity", ["--series", "1000", "--bptt", "30"], line("--series 1000 must be divisible by --bptt 30")),
  flag(
    "exp:capacity",
    ["--hiddens", "4096", "--seeds", "4096"],
    /^error: this run needs about .*--seeds 4096 x --group 40 = 163840 x --hiddens 4096/,
  ),
  flag("exp:capacity", ["--backend", "tpu"], /^error: --backend must be one of .*got "tpu"$/),
  flag("exp:capacity", ["--lr", "0.1"], unknown("--lr")),
  flag("exp:capacity", ["--cells"], missing("--cells")),
];

const MEMORY_NAMES = /rnn-h4, rnn-h60, rnn-6x60, .*irnn-h60, rnn-h60-bptt40, rnn-h60-clip1/;
const only = (got: string) =>
  new RegExp(`^error: --only must list names from ${MEMORY_NAMES.source}, got ${esc(got)}$`);

/** An exp:memory sweep record in `$DIR/out` (what an interrupted sweep leaves), as `text`. */
const record = (text: string, name = "sweep-20261201-000000-aaaa.json") => ({ dir }: Ctx) =>
  put(`${dir}/out/${name}`, text);
const RECORD = JSON.stringify({
  task: "exp:memory",
  runId: "20261201-000000-aaaa",
  since: "20261201-000000-aaaa",
  flags: { "--seeds": "2", "--epochs": "1", "--backend": "auto", "--only": "rnn-h4" },
  other: { "--jobs": "1", "--max-memory": "4" },
  configs: ["rnn-h4"],
});

const MEMORY_FLAGS: Case[] = [
  flag("exp:memory", ["--seeds", "0"], intRange("seeds", 1, 4096, "0")),
  flag("exp:memory", ["--seeds", "4097"], intRange("seeds", 1, 4096, "4097")),
  flag("exp:memory", ["--epochs", "0x14"], intRange("epochs", 1, 10000, "0x14")),
  flag("exp:memory", ["--jobs", "-2"], intRange("jobs", 1, 256, "-2")),
  flag("exp:memory", ["--jobs", "257"], intRange("jobs", 1, 256, "257")),
  flag("exp:memory", ["--max-memory", "NaN"], realRange("max-memory", "(0, 1000000]", "NaN")),
  flag("exp:memory", ["--only", ""], only('""')),
  flag("exp:memory", ["--only", "rnn-h4,"], only('""')),
  flag("exp:memory", ["--only", "transformer"], only('"transformer"')),
  flag(
    "exp:memory",
    ["--only", "rnn-h4,lstm-h4,rnn-h4"],
    line('--only must list distinct names, got "rnn-h4,lstm-h4,rnn-h4"'),
  ),
  flag("exp:memory", ["--backend", "tpu"], /^error: --backend must be one of .*got "tpu"$/),
  flag("exp:memory", ["--resume", "--resume"], twice("resume")),
  flag("exp:memory", ["--epochs"], missing("--epochs")),
  flag("exp:memory", ["rnn-h4"], positional("rnn-h4")),
  flag("exp:memory", ["--resume", "--summary-only"], line("--resume runs a sweep; it cannot go with --summary-only")),
  flag(
    "exp:memory",
    ["--resume"],
    /^error: --resume: --out \S+\/out holds no sweep-<run id>\.json of a sweep to resume$/,
  ),
  {
    ...flag(
      "exp:memory",
      ["--resume", "--only", "rnn-h4", "--seeds", "3", "--epochs", "1"],
      /^error: --seeds 3 differs from the interrupted sweep's --seeds 2 \(\S+sweep-20261201-000000-aaaa\.json\); --resume needs the same flags$/,
    ),
    setup: record(RECORD),
  },
  {
    ...flag(
      "exp:memory",
      ["--resume", "--seeds", "2", "--epochs", "1"],
      /^error: --only \S+ differs from the interrupted sweep's --only rnn-h4 /,
    ),
    setup: record(RECORD),
  },
  {
    ...flag(
      "exp:memory",
      ["--resume"],
      /^error: --resume: \S+sweep-20261201-000000-aaaa\.json is not a sweep record \(/,
    ),
    setup: record('{"task": "exp:memory", '),
  },
  {
    ...flag(
      "exp:memory",
      ["--resume"],
      /^error: --resume: \S+sweep-20261201-000000-aaaa\.json is not a record of a exp:memory sweep$/,
    ),
    setup: record(RECORD.replace('"exp:memory"', '"exp:parity"')),
  },
  {
    ...flag(
      "exp:memory",
      ["--resume"],
      /^error: --resume: \S+sweep-20261201-000000-aaaa\.json is not a record of a exp:memory sweep$/,
    ),
    setup: record("null"),
  },
];

const PARITY_IDS = "echo3-rnn-h4, echo10-rnn-h4, echo10-rnn-h60, echo10-lstm-h4";
const PARITY_FLAGS: Case[] = [
  flag("exp:parity", ["--only", ""], line(`--only must list names from ${PARITY_IDS}, got ""`)),
  flag("exp:parity", ["--only", "echo3"], line(`--only must list names from ${PARITY_IDS}, got "echo3"`)),
  flag(
    "exp:parity",
    ["--only", "echo3-rnn-h4,echo3-rnn-h4"],
    line('--only must list distinct names, got "echo3-rnn-h4,echo3-rnn-h4"'),
  ),
  flag("exp:parity", ["--jobs", "0"], intRange("jobs", 1, 256, "0")),
  flag("exp:parity", ["--max-seeds", "4097"], intRange("max-seeds", 1, 4096, "4097")),
  flag("exp:parity", ["--max-seeds", "1e3"], intRange("max-seeds", 1, 4096, "1e3")),
  flag("exp:parity", ["--shard", "3/2"], /^error: --shard must be i\/n with 1 <= i <= n\b.*got "3\/2"$/),
  flag("exp:parity", ["--shard", "-1/2"], /^error: --shard must be i\/n with 1 <= i <= n\b.*got "-1\/2"$/),
  flag("exp:parity", ["--resume", "--resume"], twice("resume")),
  flag("exp:parity", ["--seeds", "5"], unknown("--seeds")),
  flag("exp:parity", ["echo3-rnn-h4"], positional("echo3-rnn-h4")),
];

const MERGE_FLAGS: Case[] = [
  flag("merge", [], line("no shard files given (usage: deno task merge SHARD.csv...)")),
  flag("merge", ["--force=1", "x.csv"], /^error: Option '--force' does not take an argument$/),
  flag("merge", ["--force", "--force", "x.csv"], twice("force")),
  flag("merge", ["--out", "$DIR/b.csv", "x.csv"], twice("out")),
  flag("merge", ["--shards", "3", "x.csv"], unknown("--shards")),
  flag("merge", ["x.csv", "--out"], missing("--out")),
];

const REPORT_FLAGS: Case[] = [
  flag("report", ["--frobnicate"], unknown("--frobnicate")),
  flag("report", ["--manifest"], missing("--manifest")),
  flag("report", ["--out", "$DIR/o2"], twice("out")),
  flag("report", ["results/manifest.json"], positional("results/manifest.json")),
  flag("report", ["--manifest", "results/manifest.json", "--manifest", "results/manifest.json"], twice("manifest")),
];

const BACKENDS = (got: string) => line(`--backends must list names from cpu, wasm, webgpu, got ${got}`);
const BENCH_FLAGS: Case[] = [
  flag("bench", ["--backends", ""], BACKENDS('""')),
  flag("bench", ["--backends", "tpu"], BACKENDS('"tpu"')),
  flag("bench", ["--backends", "cpu,"], BACKENDS('""')),
  flag("bench", ["--backends", "wasm,cpu,wasm"], line('--backends must list distinct names, got "wasm,cpu,wasm"')),
  flag("bench", ["--backends", "CPU"], BACKENDS('"CPU"')),
  flag("bench", ["--backends"], missing("--backends")),
  flag("bench", ["--backends", "cpu", "--backends", "wasm"], twice("backends")),
  flag("bench", ["--fast"], unknown("--fast")),
  flag("bench", ["cpu"], positional("cpu")),
];

const MIGRATE_FLAGS: Case[] = [
  flag("migrate", ["$DIR", "$DIR"], line("migrate takes one directory, got 2")),
  flag("migrate", ["$DIR/nothere"], /^error: DIR \S+\/nothere is not a directory$/),
  flag("migrate", ["/dev/zero"], line("DIR /dev/zero is not a directory")),
  flag("migrate", ["--dry-run"], unknown("--dry-run")),
  {
    ...flag("migrate", ["$DIR/a.csv"], /^error: DIR \S+\/a\.csv is not a directory$/),
    setup: ({ dir }) => put(`${dir}/a.csv`, "a\n"),
  },
];

/** WebGPU limits, where this machine has an adapter (here: llvmpipe); skipped without one. */
const WEBGPU_FLAGS: Case[] = [
  {
    ...flag("exp:echo3", [
      "--backend",
      "webgpu",
      "--kernel",
      "fused",
      "--hidden",
      "300",
      "--series",
      "40",
      "--epochs",
      "1",
    ], line("--kernel fused on webgpu takes --hidden up to 256, got 300")),
    setup: needsAdapter,
  },
  {
    ...flag("exp:gradients", [
      "--backend",
      "webgpu",
      "--kernel",
      "fused",
      "--hidden",
      "300",
      "--cell",
      "rnn",
      "--series",
      "400",
      "--epochs",
      "1",
    ], line("--kernel fused on webgpu takes --hidden up to 256, got 300")),
    setup: needsAdapter,
  },
  {
    ...flag(
      "exp:echo3",
      ["--backend", "webgpu", "--cell", "lstm", "--hidden", "256", "--seeds", "64", "--batch", "64", "--series", "40"]
        .concat(["--bptt", "20", "--echo-step", "1", "--epochs", "1"]),
      /^error: --seeds 64 x --batch 64 x --bptt 20 x --hidden 256 \(lstm\) needs a \d+ MiB buffer, over this WebGPU adapter's binding limit of \d+ MiB; at most \d+ seeds fit/,
    ),
    setup: needsAdapter,
  },
];

let adapterCache: Promise<boolean> | null = null;
/** Setup of a case that needs a WebGPU adapter: asks a deno child once (this process may not load WebGPU). */
async function needsAdapter({ root }: Ctx): Promise<void> {
  adapterCache ??= (async () => {
    const r = await new Deno.Command("deno", {
      args: ["eval", "const a = await navigator.gpu?.requestAdapter(); console.log(a ? 'yes' : 'no')"],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(r.stdout).trim() === "yes";
  })();
  if (!(await adapterCache)) throw new Skip("no WebGPU adapter here");
}

// ---------------------------------------------------------------- class 2: bad --out

/** Tasks with --out naming a directory, and arguments that would make each run tiny if it started. */
const OUT_DIR_TASKS: Record<string, string[]> = {
  "exp:data": ["--series", "20", "--bptt", "10", "--echo-step", "1"],
  "exp:echo3": ["--series", "20", "--bptt", "10", "--echo-step", "1", "--epochs", "1", "--backend", "cpu"],
  "exp:echo10-h4": ["--series", "20", "--bptt", "10", "--echo-step", "1", "--epochs", "1", "--backend", "cpu"],
  "exp:echo10-h60": ["--series", "20", "--bptt", "10", "--echo-step", "1", "--epochs", "1", "--backend", "cpu"],
  "exp:echo10-deep": ["--series", "20", "--bptt", "10", "--echo-step", "1", "--epochs", "1", "--backend", "cpu"],
  "exp:gradients": ["--series", "20", "--bptt", "10", "--echo-step", "1", "--epochs", "1", "--cell", "rnn"]
    .concat(["--hidden", "2", "--seeds", "1", "--backend", "cpu"]),
  "exp:capacity": ["--cells", "rnn", "--hiddens", "2", "--echo-max", "1", "--seeds", "1", "--epochs", "1"]
    .concat(["--series", "20", "--bptt", "10", "--backend", "cpu"]),
  "exp:memory": ["--only", "rnn-h4", "--seeds", "1", "--epochs", "1", "--jobs", "1", "--backend", "cpu"],
  "exp:parity": ["--summary-only"],
  report: [],
};

const outCase = (task: string, out: string, err: RegExp, setup?: Case["setup"], cleanup?: Case["cleanup"]): Case => ({
  cls: "out",
  task,
  args: task === "merge" ? ["@1", "@2", "@3", "--out", out] : [...(OUT_DIR_TASKS[task] ?? []), "--out", out],
  code: 2,
  err,
  setup: async (c) => {
    await setup?.(c);
    return task === "merge" ? threeShards(c) : {};
  },
  cleanup,
});

const LONG = "a".repeat(300);
const isDirTask = (t: string) => t !== "merge";

/**
 * For every task with --out: an existing file, a path under a file, a 300-byte name, a read-only folder, "";
 * two kinds of each task in the fast part (each kind on four or five tasks), all in the slow part.
 */
const OUT_CASES: Case[] = [...Object.keys(OUT_DIR_TASKS), "merge"].flatMap((task, t) => {
  const file = isDirTask(task) ? "$DIR/taken" : "$DIR/taken/c.csv";
  return [
    isDirTask(task)
      ? outCase(
        task,
        "$DIR/taken",
        /^error: --out \S+\/taken is a file; it must name a directory$/,
        ({ dir }) => put(`${dir}/taken`, "x"),
      )
      : outCase(
        task,
        "$DIR/taken",
        /^error: --out \S+\/taken is a directory; it must name a file$/,
        ({ dir }) => Deno.mkdirSync(`${dir}/taken`),
      ),
    outCase(
      task,
      `${file}/sub`,
      /^error: --out \S+\/taken\/\S+: \S+\/taken(\/c\.csv)? is a file, not a directory$/,
      ({ dir }) => {
        put(isDirTask(task) ? `${dir}/taken` : `${dir}/taken/c.csv`, "x");
      },
    ),
    outCase(
      task,
      `$DIR/${LONG}${isDirTask(task) ? "" : ".csv"}`,
      /^error: --out \S+: the name "a+\.\.\.a+(\.csv)?" is over 255 bytes$/,
    ),
    outCase(
      task,
      isDirTask(task) ? "$DIR/ro/sub" : "$DIR/ro/c.csv",
      /^error: --out \S+\/ro\/(sub|c\.csv) is not writable: (Operation not permitted|Permission denied) \(os error (1|13)\)$/,
      async ({ dir }) => {
        Deno.mkdirSync(`${dir}/ro`);
        await makeReadOnly(`${dir}/ro`);
      },
      ({ dir }) => makeWritable(`${dir}/ro`),
    ),
    outCase(
      task,
      "",
      isDirTask(task) ? line('--out must name a directory, got ""') : line('--out must name a file, got ""'),
    ),
  ].map((c, k) => ((k - t + 10) % 5 < 2 ? c : { ...c, slow: true }));
});

/** Names that are legal on Linux: the run works and writes only inside that folder. */
const ODD = `$DIR/o d'd "q" ünï 😀 -x`;

/** Every new file lies under the odd folder, and there is at least one whose name matches `re`. */
const inOdd = (re: RegExp) => (files: string[]) => {
  const outside = files.filter((f) => !f.startsWith(`o d'd "q" ünï 😀 -x/`));
  if (outside.length) return `wrote outside --out: ${outside.join(", ")}`;
  return files.some((f) => re.test(f))
    ? null
    : `no file matching ${re} under --out (wrote ${files.join(", ") || "nothing"})`;
};

const works = (task: string, args: string[], re: RegExp, setup?: Case["setup"]): Case => ({
  cls: "out",
  task,
  args,
  code: 0,
  wrote: inOdd(re),
  setup,
});

const ODD_CASES: Case[] = [
  works("exp:data", [...OUT_DIR_TASKS["exp:data"], "--out", ODD], /\/data-[\w-]+\.csv$/),
  works("exp:echo3", [...OUT_DIR_TASKS["exp:echo3"], "--out", ODD], /\/echo3-[\w-]+\.csv$/),
  works("exp:gradients", [...OUT_DIR_TASKS["exp:gradients"], "--out", ODD], /\/gradients-[\w-]+\.csv$/),
  works("exp:capacity", [...OUT_DIR_TASKS["exp:capacity"], "--out", ODD], /\/shard-1-of-1-grid-[\w-]+\.csv$/),
  works("merge", ["@1", "@2", "@3", "--out", `${ODD}/capacity.csv`], /\/capacity\.csv$/, threeShards),
  // exp:parity --summary-only over per-seed CSVs in the odd folder writes summary.csv and summary.md there.
  works("exp:parity", ["--summary-only", "--only", "echo3-rnn-h4", "--out", ODD], /\/summary\.md$/, ({ dir }) => {
    const rows = [1, 2, 3].flatMap((s) => [
      `echolab,echo3-rnn-h4,regen,${DATA_GENERATOR},${s},0.05,99,${s === 1 ? 99.5 : 80},1.5`,
      `torch,echo3-rnn-h4,regen,numpy-mt19937,${s},0.05,99,${s === 2 ? 99.5 : 80},1.5`,
    ]);
    put(
      `${dir}/o d'd "q" ünï 😀 -x/echolab/seeds.csv`,
      [PER_SEED_COLUMNS.join(","), ...rows.filter((r) => r.startsWith("echolab"))].join("\n") + "\n",
    );
    put(
      `${dir}/o d'd "q" ünï 😀 -x/torch/seeds.csv`,
      [PER_SEED_COLUMNS.join(","), ...rows.filter((r) => r.startsWith("torch"))].join("\n") + "\n",
    );
  }),
];

// ---------------------------------------------------------------- class 3: bad input files

const at = (lineNo?: number) => `${esc(S1)}${lineNo ? `:${lineNo}` : ""}`;

const MERGE_INPUT: Case[] = [
  mergeCase(
    "shards of two grids",
    shardText(1, { grid: "ffff0000" }),
    /is from grid abcd1234, the others from ffff0000$|grid_id ffff0000 differs|grid ffff0000/,
  ),
  mergeCase(
    "shards of different counts",
    (dir) => (put(`${dir}/in/${shardName(1, 2)}`, shardText(1, { shards: 2 })), `${dir}/in/${shardName(1, 2)}`),
    /is one of \d shards, the others of \d$/,
  ),
  mergeCase("one shard twice (a copy)", (
    dir,
  ) => (put(`${dir}/in/${shardName(2, 3, GRID_ID, "bbbb")}`, shardText(2)),
    `${dir}/in/${shardName(2, 3, GRID_ID, "bbbb")}`), /shard 2\/3 appears twice: \S+ and \S+$/),
  mergeCase("a shard trained with other seeds", shardText(1, { seeds: 8 }), /seeds (10|8) differs from (8|10) at /),
  mergeCase(
    "a row of another cell",
    shardText(1, { cells: ["rnn", "gru"] }),
    new RegExp(`${at()}:\\d+: gru H 4 echo \\d is off its grid`),
  ),
  mergeOk("CRLF line ends", GOOD1.replace(/\n/g, "\r\n")),
  mergeOk("a UTF-8 BOM", "\ufeff" + GOOD1),
  mergeCase(
    "an extra column",
    GOOD1.replace("seconds", "seconds,extra"),
    new RegExp(`${at(1)}: not a capacity shard CSV`),
  ),
  mergeCase(
    "a trailing comma",
    GOOD1.replace(/\n(.+)\n/, "\n$1,\n"),
    new RegExp(`${at(2)}: ${SHARD_COLUMNS.length + 1} fields, expected ${SHARD_COLUMNS.length}`),
  ),
  mergeCase(
    "blank lines",
    GOOD1.replace(/\n/, "\n\n\n"),
    new RegExp(`${at(2)}: 1 fields, expected ${SHARD_COLUMNS.length}`),
  ),
  mergeCase(
    "successes past seeds",
    setField(GOOD1, 2, "successes", "11"),
    new RegExp(`${at(2)}: successes must be an integer in 0\\.\\.seeds`),
  ),
  mergeCase(
    "points wrong",
    setField(GOOD1, 3, "points", "9"),
    new RegExp(`${at(3)}: points 9 differs from 4|${at()}.*points`),
  ),
  mergeCase(
    "shards column wrong",
    setField(GOOD1, 2, "shards", "4"),
    new RegExp(`${at(2)}: shards 4 differs|${at()}.*4 shards|shards`),
  ),
  mergeCase(
    "echo_step 1e0",
    setField(GOOD1, 2, "echo_step", "1e0"),
    new RegExp(`${at(2)}: echo_step must be a positive integer, got "1e0"`),
  ),
  mergeCase(
    "hidden 0x4",
    setField(GOOD1, 2, "hidden", "0x4"),
    new RegExp(`${at(2)}: hidden must be an integer in 1\\.\\.4096, got "0x4"`),
  ),
  mergeCase(
    "an empty cell",
    setField(GOOD1, 4, "cell", ""),
    new RegExp(`${at(4)}: cell must be one of rnn, lstm, gru, irnn`),
  ),
  mergeCase(
    "a homoglyph cell name",
    setField(GOOD1, 2, "cell", "rnп"),
    new RegExp(`${at(2)}: cell must be one of rnn, lstm, gru, irnn`),
  ),
  mergeCase(
    "seeds 0",
    setField(GOOD1, 2, "seeds", "0"),
    new RegExp(`${at(2)}: seeds must be an integer in 1\\.\\.4096`),
  ),
  mergeCase(
    "echo_step -1",
    setField(GOOD1, 2, "echo_step", "-1"),
    new RegExp(`${at(2)}: echo_step must be a positive integer, got "-1"`),
  ),
  mergeCase(
    "echo_step past bptt",
    setField(GOOD1, 2, "echo_step", "51"),
    new RegExp(`${at(2)}: echo_step 51 is past bptt 50|off its grid`),
  ),
  mergeCase(
    "a NUL byte",
    GOOD1.replace(",rnn,", ",rnn\u0000,"),
    new RegExp(`${at(2)}: cell must be one of|${at()}: not a text file`),
  ),
  mergeCase("/dev/null", () => "/dev/null", /\/dev\/null is not a regular file|\/dev\/null: empty/),
  mergeCase(
    "a symlink loop",
    async (dir) => (await symlink(`${dir}/in/loop`, `${dir}/in/loop`), `${dir}/in/loop`),
    /^error: \S+\/in\/loop: /,
  ),
  mergeCase(
    "a dangling symlink",
    async (dir) => (await symlink(`${dir}/in/gone`, `${dir}/in/${S1}`), `${dir}/in/${S1}`),
    new RegExp(`${at()}: no such file$`),
  ),
  mergeCase(
    "an experiment CSV",
    (dir) => (put(`${dir}/in/e.csv`, "experiment,run_id,seed\necho3,20261201-000000-aaaa,1\n"), `${dir}/in/e.csv`),
    /e\.csv:1: not a capacity shard CSV \(header column 1 is "experiment", expected "grid_id"\)/,
  ),
  mergeCase(
    "no final newline",
    GOOD1.replace(/\n([^\n]+)\n$/, "\n$1"),
    new RegExp(`${at(5)}: the last row is cut short`),
  ),
  mergeOk("quoted fields", GOOD1.replaceAll(",rnn,", ',"rnn",')),
];

const M = (p: string) => new RegExp(`^error: --manifest \\S+manifest\\.json: ${p}`);

const REPORT_INPUT: Case[] = [
  manifestText("manifest with a BOM", "\ufeff" + "{}", M("not JSON|unknown key|no key")),
  manifestText("manifest a number", "42", M("not a JSON object of the published runs \\(got 42\\)")),
  manifestText("manifest a string", '"results"', M("not a JSON object")),
  manifestText("manifest {}", "{}", M('no key "notebook"')),
  manifestText(
    "manifest not UTF-8",
    Uint8Array.from([0xff, 0xfe, 0x7b, 0x7d]),
    /manifest\.json: not a text file|manifest\.json: not JSON/,
  ),
  manifestText("manifest with a key twice", '{"notebook": {}, "notebook": 1}', M("notebook must be an object|no key")),
  reportCase("bench a number", M("bench must be a path relative to results/, got 5$"), (m) => (m.bench = 5)),
  reportCase(
    "bench an absolute path",
    M('bench must be a path relative to results/, got "/etc/passwd"$'),
    (m) => (m.bench = "/etc/passwd"),
  ),
  reportCase(
    "gradients an empty path",
    M('gradients must be a path relative to results/, got ""$'),
    (m) => (m.gradients = ""),
  ),
  reportCase(
    "capacity climbing out with ..",
    M('capacity must be a path relative to results/, got "capacity/\\.\\./\\.\\./deno\\.json"$'),
    (m) => (m.capacity = "capacity/../../deno.json"),
  ),
  reportCase(
    "memory entry null",
    M("memory\\[2\\] must be a path relative to results/, got null$"),
    (m) => ((m.memory as unknown[])[2] = null),
  ),
  reportCase(
    "memory an empty list",
    M("memory must be a non-empty list of paths under results/$"),
    (m) => (m.memory = []),
  ),
  reportCase(
    "capacityShards naming one twice",
    M("capacityShards names \\S+ twice$"),
    (m) => (m.capacityShards = [...(m.capacityShards as string[]), (m.capacityShards as string[])[0]]),
  ),
  reportCase(
    "notebook a string",
    M("notebook must be an object naming the runs of echo3, echo10-h4, echo10-h60, echo10-deep$"),
    (m) => (m.notebook = "echo3.csv"),
  ),
  reportCase(
    "notebook naming an unknown run",
    M("notebook\\.echo20 is not one of echo3, echo10-h4, echo10-h60, echo10-deep$"),
    (m) => ((m.notebook as Record<string, string>).echo20 = "x.csv"),
  ),
  reportCase(
    "parity a folder without summary.csv",
    M("parity names results/\\S+/summary\\.csv, which does not exist$"),
    (m, res) => (m.parity = res),
    {
      "x.txt": () => "",
    },
  ),
  reportCase(
    "parity summary.csv with a wrong header",
    /\/parity\/summary\.csv:1: not a .*\(header column/,
    (m, res) => (m.parity = `${res}/parity`),
    {
      "parity/summary.csv": (p, m) => p(`${m.parity}/summary.csv`).replace(/^[^,\n]+/, "who"),
    },
  ),
  reportCase("bench CSV empty", /b\.csv: empty, not a/, (m, res) => (m.bench = `${res}/b.csv`), { "b.csv": () => "" }),
  reportCase(
    "bench CSV header only",
    /b\.csv: holds no rows, only its header/,
    (m, res) => (m.bench = `${res}/b.csv`),
    {
      "b.csv": (p, m) => p(m.bench as string).split("\n")[0] + "\n",
    },
  ),
  reportCase("gradients CSV cut", /g\.csv:\d+: the last row is cut short/, (m, res) => (m.gradients = `${res}/g.csv`), {
    "g.csv": (p, m) => p(m.gradients as string).slice(0, -7),
  }),
  reportCase(
    "notebook.echo3 naming a gradients CSV",
    /g\.csv:1: not an experiment CSV/,
    (m, res) => ((m.notebook as Record<string, string>).echo3 = `${res}/g.csv`),
    {
      "g.csv": (p, m) => p(m.gradients as string),
    },
  ),
  reportCase(
    "kernelComparison naming a bench CSV",
    /k\.csv:1: not an experiment CSV/,
    (m, res) => (m.kernelComparison = `${res}/k.csv`),
    {
      "k.csv": (p, m) => p(m.bench as string),
    },
  ),
  reportCase(
    "memory runs from two data generators",
    /memory and kernelComparison must come from one data generator, got \S+ and \S+: rerun the older ones$/,
    (m, res) => ((m.memory as string[])[0] = `${res}/g2.csv`),
    {
      "g2.csv": (p, m) => {
        const text = p((m.memory as string[])[0]);
        const other = text.includes(LEGACY_DATA_GENERATOR) ? DATA_GENERATOR : LEGACY_DATA_GENERATOR;
        return text.replace(/,(philox4x32-10\.v1|xoshiro128ss\.v0),/g, `,${other},`);
      },
    },
  ),
  reportCase(
    "memory naming a capacity shard",
    /s\.csv:1: not an experiment CSV/,
    (m, res) => ((m.memory as string[])[0] = `${res}/s.csv`),
    {
      "s.csv": (p, m) => p((m.capacityShards as string[])[0]),
    },
  ),
  reportCase(
    "capacity naming an experiment CSV",
    /m\.csv:1: not a (merged )?capacity/,
    (m, res) => (m.capacity = `${res}/m.csv`),
    {
      "m.csv": (p, m) => p(m.echo3Default as string),
    },
  ),
  reportCase(
    "capacity CSV missing a row",
    /^error: results\/\S+\/c\.csv(:\d+)?: (not the merge of the manifest's capacityShards|shard 1\/2 has \d+ rows)/,
    (m, res) => (m.capacity = `${res}/c.csv`),
    {
      "c.csv": (p, m) => {
        const text = p(m.capacity as string);
        const lines = text.trimEnd().split("\n");
        return [lines[0], ...lines.slice(2)].join("\n") + "\n";
      },
    },
  ),
  reportCase(
    "echo3Default with its test row twice",
    /d\.csv:\d+: seed \d+, test epoch \d+ again|d\.csv:\d+: .*again/,
    (m, res) => (m.echo3Default = `${res}/d.csv`),
    {
      "d.csv": (p, m) => {
        const text = p(m.echo3Default as string).trimEnd();
        return `${text}\n${text.split("\n").at(-1)}\n`;
      },
    },
  ),
  reportCase(
    "echo3Default test_acc -5",
    /e\.csv:\d+: test_acc must be a number in \[0, 100\] or empty, got "-5"/,
    (m, res) => (m.echo3Default = `${res}/e.csv`),
    {
      "e.csv": (p, m) => {
        const text = p(m.echo3Default as string);
        return setField(text, text.trimEnd().split("\n").length, "test_acc", "-5");
      },
    },
  ),
  reportCase(
    "echo3Default a link to /dev/zero",
    M("echo3Default names results/\\S+/z, which is not a regular file$"),
    (m, res) => (m.echo3Default = `${res}/z`),
    {},
    (abs) => symlink("/dev/zero", `${abs}/z`),
  ),
  reportCase(
    "gradients a FIFO",
    /f\.csv is not a regular file|f\.csv, which is not a regular file/,
    (m, res) => (m.gradients = `${res}/f.csv`),
    {},
    (abs) => mkfifo(`${abs}/f.csv`),
  ),
];

/** Report's manifest file itself: a symlink to /dev/zero, a FIFO, past the read cap. */
const MANIFEST_FILES: Case[] = [
  {
    cls: "input",
    task: "report",
    args: ["--out", "$DIR/out", "--manifest", "$DIR/m.json"],
    code: 2,
    what: "manifest a link to /dev/zero",
    err: /^error: --manifest \S+\/m\.json is not a regular file/,
    setup: ({ dir }) => symlink("/dev/zero", `${dir}/m.json`),
  },
  {
    cls: "input",
    task: "report",
    args: ["--out", "$DIR/out", "--manifest", "$DIR/big.json"],
    code: 2,
    what: "manifest past the read cap",
    err: /^error: --manifest \S+\/big\.json is larger than the 256 MiB/,
    setup: ({ dir }) => {
      Deno.writeTextFileSync(`${dir}/big.json`, "");
      Deno.truncateSync(`${dir}/big.json`, 300 * 1024 * 1024);
    },
  },
  {
    cls: "input",
    task: "report",
    args: ["--out", "$DIR/out", "--manifest", "$DIR"],
    code: 2,
    what: "manifest a directory",
    err: /^error: --manifest \S+ is a directory, not a manifest/,
  },
];

// ---------------------------------------------------------------- class 4: environment

const NO_ADAPTER = { DENO_WEBGPU_BACKEND: "dx12" };
const noAdapter = (task: string, args: string[], err: RegExp): Case => ({
  ...flag(task, args, err),
  cls: "env",
  env: NO_ADAPTER,
});
const COULD_NOT_LOAD = line("--backend webgpu could not be loaded: no WebGPU adapter (see README, Backends)");
const TINY = ["--series", "40", "--bptt", "20", "--echo-step", "1", "--epochs", "1"];

const ENV_CASES: Case[] = [
  noAdapter(
    "bench",
    ["--backends", "webgpu"],
    line("--backends webgpu has no adapter to run on (no WebGPU adapter); leave webgpu out"),
  ),
  noAdapter(
    "bench",
    ["--backends", "cpu,webgpu"],
    line("--backends webgpu has no adapter to run on (no WebGPU adapter); leave webgpu out"),
  ),
  noAdapter("exp:echo3", ["--backend", "webgpu", ...TINY], COULD_NOT_LOAD),
  { ...noAdapter("exp:echo10-h4", ["--backend", "webgpu", ...TINY], COULD_NOT_LOAD), slow: true },
  { ...noAdapter("exp:echo10-h60", ["--backend", "webgpu", ...TINY], COULD_NOT_LOAD), slow: true },
  { ...noAdapter("exp:echo10-deep", ["--backend", "webgpu", ...TINY], COULD_NOT_LOAD), slow: true },
  noAdapter("exp:gradients", ["--backend", "webgpu", ...TINY, "--cell", "rnn"], COULD_NOT_LOAD),
];

/** Runs that work, with colour asked off or a dumb terminal: no escape codes, piped or on a pseudo-terminal. */
const quiet = (
  task: string,
  args: string[],
  env: Record<string, string>,
  pty: boolean,
  setup?: Case["setup"],
): Case => ({
  cls: "env",
  task,
  args,
  code: 0,
  env,
  pty,
  setup,
  wrote: (files) => (files.length ? null : "wrote nothing"),
});
const TINY_ECHO3 = ["--series", "200", "--bptt", "20", "--epochs", "2", "--backend", "cpu", "--out", "$DIR/out"];
const TINY_CAPACITY = [...OUT_DIR_TASKS["exp:capacity"], "--out", "$DIR/out"];
/** Colour asked off (on a terminal), a dumb terminal, and a colour terminal's TERM on a pipe. */
const ENVS: [Record<string, string>, boolean][] = [
  [{ TERM: "xterm", NO_COLOR: "1" }, true],
  [{ TERM: "dumb" }, true],
  [{ TERM: "xterm-256color" }, false],
];
for (const [env, pty] of ENVS) {
  // On a pipe only echo3 runs in the fast part.
  ENV_CASES.push(quiet("exp:echo3", TINY_ECHO3, env, pty), {
    ...quiet("exp:capacity", TINY_CAPACITY, env, pty),
    slow: !pty,
  });
  // exp:data with TERM=dumb on a terminal is in FOUND below.
  if (!(pty && env.TERM === "dumb")) {
    ENV_CASES.push({ ...quiet("exp:data", [...OUT_DIR_TASKS["exp:data"], "--out", "$DIR/out"], env, pty), slow: !pty });
  }
  ENV_CASES.push({
    ...flag("exp:echo3", ["--hidden", "0x10"], intRange("hidden", 1, 4096, "0x10")),
    cls: "env",
    env,
    pty,
    slow: !pty,
  });
}

// ---------------------------------------------------------------- runs that take seconds: the slow part

/** Odd legal --out names on the tasks whose smallest run takes seconds. */
const SLOW_ODD: Case[] = [
  works("exp:echo10-h4", [...OUT_DIR_TASKS["exp:echo10-h4"], "--out", ODD], /\/echo10-h4-[\w-]+\.csv$/),
  works("exp:echo10-h60", [...OUT_DIR_TASKS["exp:echo10-h60"], "--out", ODD], /\/echo10-h60-[\w-]+\.csv$/),
  works("exp:echo10-deep", [...OUT_DIR_TASKS["exp:echo10-deep"], "--out", ODD], /\/echo10-deep-[\w-]+\.csv$/),
  works("report", ["--out", ODD], /\/results\/README\.md$/),
].map((c) => ({ ...c, slow: true }));

// ---------------------------------------------------------------- found by this suite (issue 14, section 7)

/**
 * Cases this suite found broken when it was written (each `what` says how),
 * fixed since and kept in the table so that they stay fixed.
 */
export const FOUND: Case[] = [
  {
    ...flag("bench", ["--child"], /^error: .*--child/),
    what: "bench --child without a model: a TypeError stack trace, exit 1",
  },
  {
    ...flag("bench", ["--child", "nothere", "3"], /^error: .*nothere/),
    what: "bench --child with an unknown model: a TypeError stack trace, exit 1",
  },
  {
    ...flag(
      "exp:parity",
      ["--summary-only", "--shard", "1/99999999999999999999"],
      /^error: --shard must be i\/n with 1 <= i <= n/,
    ),
    what: "exp:parity --shard takes n past any safe integer (rounded to 1e20) where exp:capacity caps it at 10000",
  },
  {
    ...flag("migrate", ["$DIR/m"], /^error: \S+\/m\/bad\.csv(:2)?: /),
    what: "migrate over a corrupt CSV: exit 1 and a csv-parse message that names no file",
    setup: ({ dir }) => put(`${dir}/m/bad.csv`, "a,b\n1,2,3\n"),
  },
  {
    ...noAdapter(
      "exp:capacity",
      ["--backend", "webgpu", ...OUT_DIR_TASKS["exp:capacity"].slice(0, -2)],
      COULD_NOT_LOAD,
    ),
    what:
      "exp:capacity --backend webgpu without an adapter: exit 1, tfjs's 'backend wasm has not yet been initialized'",
  },
  {
    ...noAdapter(
      "exp:memory",
      ["--only", "rnn-h4", "--seeds", "1", "--epochs", "1", "--backend", "webgpu"],
      COULD_NOT_LOAD,
    ),
    what: "exp:memory --backend webgpu without an adapter: exit 1 after writing a sweep record and a log",
  },
  {
    ...flag(
      "exp:capacity",
      ["--backend", "webgpu", "--cells", "lstm", "--hiddens", "256", "--seeds", "4096", "--group", "1"]
        .concat(["--series", "400", "--bptt", "20", "--echo-max", "20", "--epochs", "1", "--max-memory", "100"]),
      /^error: .*needs a \d+ MiB buffer, over this WebGPU adapter's binding limit of \d+ MiB/,
    ),
    what: "exp:capacity --backend webgpu with an adapter: exit 1, tfjs's 'backend wasm has not yet been initialized'",
    setup: needsAdapter,
  },
  {
    ...outCase("exp:data", "$DIR/new\nline", /^error: --out .*new.*line/),
    what: "a newline in --out: accepted, so every line naming the folder (csv:, errors) breaks in two",
  },
  {
    ...outCase(
      "exp:data",
      "$DIR/f\nile",
      /^error: --out must not contain control characters \(line breaks, escape codes\), got ".*f\\nile"$/,
      ({ dir }) => put(`${dir}/f\nile`, "x"),
    ),
    what: "--out naming an existing file with a newline in its name: the refusal is two lines",
  },
  {
    ...outCase("exp:echo3", "$DIR/esc\u001b[31mred", /^error: --out .*esc.*red/),
    what: "an escape sequence in --out: accepted and echoed raw to the terminal (csv: line)",
  },
  {
    ...outCase("merge", "$DIR/new\nline.csv", /^error: --out .*new.*line/),
    what: "a newline in merge --out: accepted",
  },
  {
    ...mergeCase("", (dir) => `${dir}/in/no\nsuch.csv`, /^error: .*no.*such\.csv: no such file$/),
    what: "merge of a shard path with a newline: the refusal is two lines",
  },
  {
    ...reportCase(
      "",
      /^error: --manifest \S+manifest\.json: .*rnn-h60-clip1/,
      (m) => (m.memory = (m.memory as string[]).slice(0, 9)),
    ),
    what: "a manifest whose memory list lacks a config: exit 1 naming results/findings.template.md, not the manifest",
  },
  {
    ...quiet("exp:data", [...OUT_DIR_TASKS["exp:data"], "--out", "$DIR/out"], { TERM: "dumb" }, true),
    what: "exp:data on a terminal with TERM=dumb: console.log(number) prints colour codes",
  },
  {
    ...works("exp:memory", [...OUT_DIR_TASKS["exp:memory"], "--out", "$DIR/new"], /^new\/sweep-[\w-]+-summary\.csv$/),
    wrote: (
      files: string[],
    ) => (files.some((f) => /^new\/sweep-[\w-]+-summary\.csv$/.test(f)) ? null : `wrote ${files.join(", ")}`),
    what: "exp:memory --out a folder that does not exist yet: exit 1, sweep-<id>.json: No such file or directory",
  },
  {
    ...works("exp:memory", [...OUT_DIR_TASKS["exp:memory"], "--out", ODD], /\/sweep-[\w-]+-summary\.csv$/),
    what: "exp:memory --out an odd legal name (a folder that does not exist yet): exit 1, as above",
  },
];

// ---------------------------------------------------------------- the table

/**
 * Runs `list` in the fast part only at the indices `fast` (each kind of
 * value, and each task, at least once); the others run in the slow part
 * (ECHOLAB_SLOW=1), which runs the whole table.
 */
function fastAt(list: Case[], fast: number[]): Case[] {
  return list.map((c, i) => (fast.includes(i) ? c : { ...c, slow: true }));
}

/** Runs only the cases whose `what` is in `slow` in the slow part. */
function slowWhere(list: Case[], slow: string[]): Case[] {
  for (const w of slow) if (!list.some((c) => c.what === w)) throw new Error(`no case "${w}"`);
  return list.map((c) => (slow.includes(c.what ?? "") ? { ...c, slow: true } : c));
}

export const CASES: Case[] = [
  ...fastAt(ECHO3_FLAGS, [
    0,
    1,
    2,
    5,
    6,
    8,
    10,
    11,
    14,
    18,
    19,
    20,
    21,
    22,
    26,
    30,
    32,
    33,
    36,
    38,
    39,
    40,
    41,
    43,
    44,
    45,
    47,
    48,
  ]),
  ...fastAt(OTHER_EXPERIMENT_FLAGS, [0, 2, 5, 7, 10, 13, 18, 19, 21, 25, 28, 29]),
  ...THREADS_FLAGS,
  ...fastAt(CAPACITY_FLAGS, [0, 1, 3, 6, 7, 8, 9, 12, 14, 15, 19, 21]),
  ...fastAt(MEMORY_FLAGS, [0, 3, 6, 8, 9, 11, 14, 15, 16, 18, 19]),
  ...fastAt(PARITY_FLAGS, [0, 2, 4, 6, 9]),
  ...fastAt(MERGE_FLAGS, [0, 2, 3]),
  ...fastAt(REPORT_FLAGS, [0, 2]),
  ...fastAt(BENCH_FLAGS, [0, 1, 3, 6, 7]),
  ...fastAt(MIGRATE_FLAGS, [0, 1, 4]),
  ...WEBGPU_FLAGS,
  ...OUT_CASES,
  ...ODD_CASES,
  ...slowWhere(MERGE_INPUT, [
    "shards of different counts",
    "a row of another cell",
    "an extra column",
    "blank lines",
    "points wrong",
    "shards column wrong",
    "echo_step 1e0",
    "an empty cell",
    "seeds 0",
    "echo_step -1",
    "echo_step past bptt",
    "a dangling symlink",
    "no final newline",
  ]),
  ...slowWhere([...REPORT_INPUT, ...MANIFEST_FILES], [
    "manifest a string",
    "manifest {}",
    "manifest with a key twice",
    "gradients an empty path",
    "memory an empty list",
    "notebook naming an unknown run",
    "bench CSV header only",
    "kernelComparison naming a bench CSV",
    "memory naming a capacity shard",
    "echo3Default test_acc -5",
    "manifest a directory",
    "manifest a number",
    "capacityShards naming one twice",
    "echo3Default with its test row twice",
    "gradients CSV cut",
  ]),
  ...ENV_CASES,
  ...SLOW_ODD,
  ...FOUND,
];
