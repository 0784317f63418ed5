/**
 * The command line as a user meets it: bad flags refused with one line and
 * exit 2, --help, a run's CSV rows, and the flag table (lib/cli/) checked
 * against itself: the ranges --help shows are the ones parsing enforces, and
 * the CSV's flag columns are the table's. Not the hostile suite's every
 * task and case (tests/cli/hostile_cases.ts) nor sweeps' signals (sweep_test.ts).
 */
import { assert } from "../_assert.ts";
import { listing, oneLine, runDeno, runScript, type ScriptRun } from "../_run.ts";
import {
  assertDivides,
  assertIrnnOnly,
  assertMeasures,
  type Flag,
  parseRunArgs,
  replicaSeeds,
  RUN_COLUMNS,
  RUN_FLAGS,
  runCells,
  usage,
  UsageError,
} from "../../lib/cli.ts";
import { rangeText } from "../../lib/cli/flags.ts";
import { CSV_COLUMNS } from "../../lib/experiment.ts";
import { GRADIENT_COLUMNS } from "../../lib/migrations.ts";

const BAD: [string[], RegExp][] = [
  [["--hidden", "abc"], /^error: --hidden must be an integer in 1\.\.4096, got "abc"$/],
  [["--hidden", "0"], /^error: --hidden must be an integer in 1\.\.4096, got "0"$/],
  [["--epochs=-1"], /^error: --epochs must be an integer in 1\.\.10000, got "-1"$/],
  [["--echo-step", "0"], /^error: --echo-step must be an integer in 1\.\.19999, got "0"$/],
  [["--series", "1000", "--bptt", "30"], /^error: --series 1000 must be divisible by --bptt 30$/],
  [["--backend", "tpu"], /^error: --backend must be one of auto, cpu, wasm, webgpu, node, node-gpu, got "tpu"$/],
  [["--frobnicate"], /^error: .*'--frobnicate'/],
  [["--lr", "0"], /^error: --lr must be a number in \(0, 10\], got "0"$/],
  [["--lr", "fast"], /^error: --lr must be a number in \(0, 10\], got "fast"$/],
  [["--seeds", "0"], /^error: --seeds must be an integer in 1\.\.4096, got "0"$/],
  [["--seeds", "3,3"], /^error: --seeds must list distinct seeds, got "3,3"$/],
  [["--cell", "transformer"], /^error: --cell must be one of rnn, lstm, gru, irnn, got "transformer"$/],
  [["extra"], /^error: .*extra/],
  // Numbers are plain decimal: no hex, binary, octal, Infinity or overflow; a negative is out of range like any other.
  [["--hidden", "0x10"], /^error: --hidden must be an integer in 1\.\.4096, got "0x10"$/],
  [["--epochs", "0b11"], /^error: --epochs must be an integer in 1\.\.10000, got "0b11"$/],
  [["--batch", "1e2"], /^error: --batch must be an integer in 1\.\.4096, got "1e2"$/],
  [["--seed", " 7"], /^error: --seed must be an integer in 0\.\.4294967295, got " 7"$/],
  [["--lr", "Infinity"], /^error: --lr must be a number in \(0, 10\], got "Infinity"$/],
  [["--lr", "1e999"], /^error: --lr must be a number in \(0, 10\], got "1e999"$/],
  [["--lr", "0x1"], /^error: --lr must be a number in \(0, 10\], got "0x1"$/],
  [["--clip", "-1"], /^error: --clip must be a number in \[0, 1000000\], got "-1"$/],
  [["--max-memory", "-2"], /^error: --max-memory must be a number in \(0, 1000000\], got "-2"$/],
  [["--identity-scale", "NaN", "--cell", "irnn"], /^error: --identity-scale must be a number in \(0, 10\], got "NaN"$/],
  // Two flags that say the same thing differently, or a flag the run would ignore, are refused.
  [["--seed", "3", "--seeds", "4,5"], /^error: --seed 3 cannot be given with a list in --seeds/],
  [["--identity-scale", "2"], /^error: --identity-scale applies to --cell irnn only, got --cell rnn$/],
  // Every form of --seeds has the same cap.
  [
    ["--seeds", Array.from({ length: 4097 }, (_, i) => i).join(",")],
    /^error: --seeds must list at most 4096 seeds, got 4097$/,
  ],
  // A run scored mostly on the zero-filled start of its series measures nothing.
  [
    ["--series", "2000", "--bptt", "20", "--echo-step", "1999"],
    /^error: --echo-step 1999 with --series 2000 makes 100\.0% of the targets zero fill \(at most 10%/,
  ],
  [
    ["--series", "20", "--bptt", "10", "--echo-step", "20"],
    /^error: --echo-step must be an integer in 1\.\.19, got "20"$/,
  ],
  [
    ["--series", "3", "--bptt", "1"],
    /^error: --echo-step must be an integer in 1\.\.2, got its default 3; set --echo-step$/,
  ],
];

// One process at a time: Deno processes started together on a fresh cache can wait on
// the node_modules lock, and Deno then prints its own "Blocking waiting for file lock"
// line to stderr, which is not ours to count.
async function runEach(cases: [string, string[]][]): Promise<ScriptRun[]> {
  const runs: ScriptRun[] = [];
  for (const [script, args] of cases) runs.push(await runScript(script, args));
  return runs;
}

Deno.test("bad input: one line naming the flag, exit code 2, nothing written", async () => {
  const runs = await runEach(BAD.map(([args]) => ["echo3", args]));
  runs.forEach((r, i) => {
    const [args, re] = BAD[i];
    const lines = r.stderr.trim().split("\n");
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(lines.length, 1, `${args.join(" ")}: ${lines.length} lines of stderr:\n${r.stderr}`);
    assert.match(lines[0], re);
    assert.deepEqual(r.files, [], `${args.join(" ")} wrote ${r.files}`);
  });
});

Deno.test("--out naming an existing file is refused with exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echolab-test-" });
  Deno.writeTextFileSync(`${dir}/taken`, "x");
  const r = await new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${dir}`, "experiments/echo3.ts", "--out", `${dir}/taken`],
    cwd: new URL("../../", import.meta.url).pathname,
    stderr: "piped",
  }).output();
  assert.equal(r.code, 2);
  assert.match(new TextDecoder().decode(r.stderr).trim(), /^error: --out .*taken is a file; it must name a directory$/);
  assert.equal(Deno.readTextFileSync(`${dir}/taken`), "x");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--help prints the flags and writes nothing", async () => {
  const r = await runScript("echo10-h60", ["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--echo-step N\s+echo delay, at most 10% of --series \(zero-filled targets\) \(default 10\)/);
  assert.match(r.stdout, /--hidden N\s+hidden units per layer, 1\.\.4096 \(default 60\)/);
  assert.deepEqual(r.files, []);
  // The defaults shown are the script's own: echo3 runs seed 5, not the notebook's 1.
  const echo3 = await runScript("echo3", ["--help"]);
  assert.equal(echo3.code, 0);
  assert.match(echo3.stdout, /--seed N\s+first seed \(default 5\)/);
  assert.match(echo3.stdout, /--seeds N\|a,b,c .*\n\s+at most 4096 \(default 1\)$/m);
});

Deno.test("a short multi-replica run logs one row per replica per epoch, then a test row each", async () => {
  const args = ["--seeds", "3,4", "--epochs", "2", "--series", "400", "--backend", "cpu"];
  const r = await runScript("echo3", args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.files.length, 1);
  const train = r.rows.filter((x) => x.phase === "train"), test = r.rows.filter((x) => x.phase === "test");
  assert.deepEqual(train.map((x) => [x.seed, x.epoch]), [["3", "1"], ["4", "1"], ["3", "2"], ["4", "2"]]);
  assert.deepEqual(test.map((x) => x.seed), ["3", "4"]);
  for (const x of train) assert.ok(Number(x.train_acc) > 0 && Number(x.train_acc) <= 100 && Number(x.train_loss) > 0);
  for (const x of test) assert.ok(Number(x.test_acc) > 0 && Number(x.echo_correct) >= 0 && x.echo_step === "3");
  assert.match(r.stdout, /^\[seed 3\] Train Epoch: 1\/2, loss: \d\.\d{3}, accuracy \d+\.\d%$/m);
  assert.match(r.stdout, /^\[seed 4\] Number of correct echoing digits from the 97 : \d+$/m);
  const ok = test.filter((x) => Number(x.test_acc) >= 99).length;
  assert.match(r.stdout, new RegExp(`^success rate: ${ok}/2 seeds`, "m"));
  // README: the success rate is the last line printed; the CSV's path comes just before it.
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[lines.length - 1], /^success rate: /);
  assert.equal(lines[lines.length - 2], `csv: ${r.files[0]}`);
  assert.match(
    r.stdout,
    /^config: experiment=echo3 seeds=3,4 epochs=2 echo_step=3 hidden=4 layers=1 cell=rnn identity_scale=1 bptt=20 batch=5 series=400 lr=0\.001 optimizer=rmsprop clip=0 fixed_series=false backend=cpu kernel=auto out=\S+ max_memory=4$/m,
  );

  const again = await runScript("echo3", args);
  assert.deepEqual(again.rows.map((x) => x.train_loss), r.rows.map((x) => x.train_loss), "a seed must reproduce");
});

Deno.test("exp:data prints the notebook's preview and writes its CSV", async () => {
  const r = await runScript("data", ["--seed", "2"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.equal(lines[0], "1000");
  assert.equal(lines[1], "1000");
  assert.match(r.stdout, /x_batch size: \(5, 20000\)/);
  assert.match(r.stdout, /1st y_chunk size: \(5, 20, 1\)/);
  assert.equal(r.rows.length, 5 * 20);
  for (const row of r.rows) {
    const shifted = r.rows.find((x) => x.sequence === row.sequence && Number(x.step) === Number(row.step) - 3);
    assert.equal(row.y, shifted ? shifted.x : "0");
  }
});

Deno.test("an interrupted run keeps every row it finished", async () => {
  const out = await Deno.makeTempDir({ prefix: "echolab-test-" });
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${out}`,
      "experiments/echo3.ts",
      "--epochs",
      "10000",
      "--series",
      "200",
    ]
      .concat(["--backend", "wasm", "--out", out]),
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "null",
    stderr: "null",
  }).spawn();
  let rows: string[] = [];
  for (let i = 0; i < 300 && rows.length < 4; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const files = [...Deno.readDirSync(out)];
    if (files.length) rows = Deno.readTextFileSync(`${out}/${files[0].name}`).trim().split("\n").slice(1);
  }
  child.kill("SIGINT");
  const status = await child.status;
  assert.ok(!status.success, "the run should have been interrupted");
  const [file] = [...Deno.readDirSync(out)];
  const lines = Deno.readTextFileSync(`${out}/${file.name}`).split("\n");
  assert.equal(lines.pop(), "", "the file must end with a complete row");
  assert.ok(lines.length >= 5, `only ${lines.length - 1} rows kept`);
  const width = lines[0].split(",").length;
  lines.slice(1).forEach((l, i) => {
    assert.equal(l.split(",").length, width, `row ${i + 1} is cut: ${l}`);
    assert.match(l, new RegExp(`,train,${i + 1},`));
  });
  await Deno.remove(out, { recursive: true });
});

Deno.test("sweep scripts reject bad input with one line and exit 2", async () => {
  const cases: [string, string[], RegExp][] = [
    ["memory", ["--seeds", "0"], /^error: --seeds must be an integer in 1\.\.4096, got "0"$/],
    ["memory", ["--only", "transformer"], /^error: --only must list names from .*, got "transformer"$/],
    ["capacity", ["--shard", "5/4"], /^error: --shard must be i\/n with 1 <= i <= n <= 10000, got "5\/4"$/],
    ["capacity", ["--hiddens", "4,x"], /^error: --hiddens must be an integer in 1\.\.4096, got "x"$/],
    ["capacity", ["--echo-max", "60"], /^error: --echo-max must be an integer in 1\.\.50, got "60"$/],
    ["gradients", ["--hidden", "-3"], /^error: .*--hidden/],
  ];
  const runs = await runEach(cases.map(([script, args]) => [script, args]));
  runs.forEach((r, i) => {
    const [script, args, re] = cases[i];
    assert.equal(r.code, 2, `${script} ${args.join(" ")}: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr.trim(), re);
    assert.deepEqual(r.files, []);
  });
});

Deno.test("capacity shards run and merge; merge refuses a missing shard", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echolab-test-" });
  const root = new URL("../../", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command("deno", {
      args: ["run", "--allow-read", `--allow-write=${dir}`, ...args],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  const grid = ["--cells", "rnn,lstm", "--hiddens", "4", "--echo-max", "2", "--seeds", "2", "--epochs", "1"]
    .concat(["--series", "200", "--bptt", "20", "--backend", "wasm", "--out", dir]);
  const shards = await Promise.all(
    [1, 2, 3].map((i) => run(["experiments/capacity.ts", "--shard", `${i}/3`, ...grid])),
  );
  shards.forEach((s) => assert.equal(s.code, 0, new TextDecoder().decode(s.stderr)));
  const files = [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`).sort();
  assert.equal(files.length, 3);

  const missing = await run(["experiments/merge.ts", files[0], files[2], "--out", `${dir}/merged.csv`]);
  assert.equal(missing.code, 2);
  assert.match(new TextDecoder().decode(missing.stderr).trim(), /^error: missing shard\(s\) 2 of 3$/);
  assert.throws(() => Deno.statSync(`${dir}/merged.csv`));

  const twice = await run(["experiments/merge.ts", ...files, files[1], "--out", `${dir}/merged.csv`]);
  assert.equal(twice.code, 2);
  assert.match(new TextDecoder().decode(twice.stderr), /shard 2\/3 appears twice/);

  const ok = await run(["experiments/merge.ts", ...files, "--out", `${dir}/merged.csv`]);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  const merged = Deno.readTextFileSync(`${dir}/merged.csv`).trim().split("\n");
  assert.equal(merged.length, 1 + 4, "header and the 4 grid points");
  assert.match(new TextDecoder().decode(ok.stdout), /^rnn H4: largest echo learnt by half the seeds = \d+$/m);
  await Deno.remove(dir, { recursive: true });
});

// ---------------------------------------------------------------- the flag table (lib/cli/run.ts, lib/cli/flags.ts)

/** The `--help` entry of `--flag` in `text`, its continuation lines joined with single spaces. */
function helpEntry(text: string, flag: string): string | undefined {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => new RegExp(`^ {2}--${flag}( |$)`).test(l));
  if (i < 0) return undefined;
  const more = [];
  for (let j = i + 1; j < lines.length && /^ {22}\S/.test(lines[j]); j++) more.push(lines[j].trim());
  return [lines[i], ...more].join(" ").replace(/ {2,}/g, "  ");
}

/** Every run flag whose range is two numbers fixed in the table, with that range as its errors state it. */
const NUMERIC = RUN_FLAGS.flatMap((f) =>
  (f.type === "int" || f.type === "real") && typeof f.max === "number" ? [f as Flag & { min: number; max: number }] : []
);

Deno.test("--help shows every run flag with its range and the script's default", () => {
  const knobs = { epochs: 7, hidden: 9, cell: "gru", lr: 0.25, fixedSeries: true, seed: 11, out: "results/x" } as const;
  const text = usage("exp:x", "About.", knobs);
  for (const f of RUN_FLAGS) {
    const entry = helpEntry(text, f.name);
    assert.ok(entry, `--${f.name} missing from --help`);
    assert.ok(entry.includes(rangeText(f)), `--${f.name}: range "${rangeText(f)}" not in "${entry}"`);
    if (f.type !== "bool") assert.match(entry, /\(default /, `--${f.name}: no default in "${entry}"`);
    assert.ok(!/undefined|NaN|\{/.test(entry), entry);
  }
  // The defaults are the script's knobs over the notebook's settings.
  for (
    const [flag, want] of [
      ["epochs", "training epochs, 1..10000 (default 7)"],
      ["hidden", "hidden units per layer, 1..4096 (default 9)"],
      ["cell", "rnn|lstm|gru|irnn (default gru)"],
      ["lr", "learning rate, (0, 10] (default 0.25)"],
      ["seed", "first seed (default 11) in 0..4294967295"],
      ["fixed-series", "keep one series for every epoch (default on)"],
      ["out", "where the CSV goes (default results/x;"],
      ["layers", "stacked recurrent layers, 1..64 (default 1)"],
      ["max-memory", "(0, 1000000] (default 4)"],
    ]
  ) assert.ok(helpEntry(text, flag)!.includes(want), `--${flag}: "${want}" not in "${helpEntry(text, flag)}"`);
  // With `takes`, only those flags (and -h).
  const data = usage("exp:data", "About.", {}, ["seed", "series"]);
  assert.deepEqual([...data.matchAll(/^ {2}(-h, )?--([a-z-]+)/gm)].map((m) => m[2]), ["seed", "series", "help"]);
});

Deno.test("every numeric run flag takes exactly the range --help shows, and says so when refused", () => {
  assert.ok(NUMERIC.length >= 10, `only ${NUMERIC.length} numeric flags with fixed ranges`);
  for (const f of NUMERIC) {
    // The flags a value needs to be a run at all: irnn for its scale; an echo step a short series has room for.
    const extra = { "identity-scale": ["--cell", "irnn"], series: ["--echo-step", "1", "--bptt", "1"] }[f.name] ?? [];
    const range = rangeText(f);
    const kind = f.type === "int" ? "an integer" : "a number";
    assert.ok(helpEntry(usage("exp:x", "", {}), f.name)!.includes(range));
    for (const bad of [f.max + 1, f.minOpen || f.type === "real" ? f.min - (f.minOpen ? 0 : 1) : f.min - 1]) {
      assert.throws(
        () => parseRunArgs([`--${f.name}`, String(bad), ...extra]),
        (err: unknown) =>
          err instanceof UsageError && err.message === `--${f.name} must be ${kind} in ${range}, got "${bad}"`,
        `--${f.name} ${bad}`,
      );
    }
    // (A series of 1 leaves no room for an echo step: 10 is the shortest with one.)
    const low = f.minOpen ? f.max / 2 : f.name === "series" ? 10 : f.min;
    for (const good of [f.max, low]) {
      const cfg = parseRunArgs([`--${f.name}`, String(good), ...extra]);
      assert.ok(cfg, `--${f.name} ${good} refused`);
      if ("key" in f) assert.equal((cfg as unknown as Record<string, unknown>)[f.key as string], good);
    }
  }
  // Ranges that depend on another flag: --echo-step below --series, --bptt at most --series.
  const refused = (text: string) => (err: unknown) => err instanceof UsageError && err.message === text;
  const series100 = ["--series", "100", "--bptt", "10"];
  assert.throws(
    () => parseRunArgs([...series100, "--echo-step", "100"]),
    refused('--echo-step must be an integer in 1..99, got "100"'),
  );
  assert.throws(
    () => parseRunArgs(["--series", "100", "--bptt", "101"]),
    refused('--bptt must be an integer in 1..100, got "101"'),
  );
});

Deno.test("the rules between run flags are each one function, as parseRunArgs applies them", () => {
  const usageError = (re: RegExp) => (err: unknown) => err instanceof UsageError && re.test(err.message);
  assert.throws(() => assertDivides(1000, 30), usageError(/^--series 1000 must be divisible by --bptt 30$/));
  assertDivides(1000, 20);
  assert.throws(() => assertMeasures(11, 100), usageError(/^--echo-step 11 with --series 100 makes 11\.0%/));
  assertMeasures(10, 100);
  assert.throws(() => assertIrnnOnly(["lstm"], "lstm"), usageError(/^--identity-scale applies to --cell irnn only/));
  assertIrnnOnly(["rnn", "irnn"], "rnn");
  const none = { seed: false, seeds: false };
  assert.deepEqual(replicaSeeds(5, [1], none, {}), [5]);
  assert.deepEqual(replicaSeeds(5, [1, 2], none, { seeds: [1, 2] }), [1, 2]);
  assert.deepEqual(replicaSeeds(5, 3, { seed: true, seeds: true }, {}), [5, 6, 7]);
  assert.deepEqual(replicaSeeds(1, [7, 9], { seed: false, seeds: true }, {}), [7, 9]);
  assert.throws(
    () => replicaSeeds(1, [7, 9], { seed: true, seeds: true }, {}),
    usageError(/cannot be given with a list/),
  );
  // --identity-scale goes with every cell where the script runs them all unless --cell names one (exp:gradients).
  assert.ok(parseRunArgs(["--identity-scale", "2"], {}, { everyCellByDefault: true }));
  assert.throws(() => parseRunArgs(["--identity-scale", "2", "--cell", "gru"], {}, { everyCellByDefault: true }));
});

Deno.test("the experiment CSV's flag columns are the run table's, in its order, filled from the config", async () => {
  // The committed CSVs and lib/schemas.ts read these names in this order.
  const committed = ["cell", "identity_scale", "echo_step", "hidden", "layers", "bptt", "batch", "series", "lr"]
    .concat(["optimizer", "clip", "fixed_series", "epochs"]);
  assert.deepEqual([...RUN_COLUMNS], committed);
  assert.deepEqual(CSV_COLUMNS.slice(CSV_COLUMNS.indexOf("data_generator") + 1, -1), committed);
  assert.deepEqual(RUN_COLUMNS, RUN_FLAGS.flatMap((f) => ("column" in f ? [f.column] : [])));
  // exp:gradients writes its flag columns from the same rows: each must be one.
  const gradientFlags = GRADIENT_COLUMNS.slice(1, GRADIENT_COLUMNS.indexOf("seed")).filter((c) =>
    c !== "data_generator"
  );
  const runColumns: readonly string[] = RUN_COLUMNS;
  for (const c of gradientFlags) assert.ok(runColumns.includes(c), `gradients column ${c} is no run flag's`);

  const args = ["--seeds", "3", "--cell", "irnn", "--identity-scale", "0.5", "--echo-step", "2", "--hidden", "3"]
    .concat(["--layers", "2", "--bptt", "10", "--batch", "2", "--series", "200", "--lr", "0.002", "--optimizer"])
    .concat(["adam", "--clip", "1", "--fixed-series", "--epochs", "1", "--backend", "cpu"]);
  const r = await runScript("echo3", args);
  assert.equal(r.code, 0, r.stderr);
  const cfg = parseRunArgs(args)!;
  const want = { ...runCells(cfg) };
  assert.deepEqual(Object.keys(want), committed);
  assert.equal(want.identity_scale, 0.5);
  assert.equal(runCells({ ...cfg, cell: "lstm" }).identity_scale, "", "identity_scale is irnn's only");
  assert.equal(r.rows.length, 3 * 2, "a train and a test row per seed");
  for (const row of r.rows) {
    assert.deepEqual(Object.keys(row), [...CSV_COLUMNS]);
    for (const c of committed) assert.equal(row[c], String(want[c]), `column ${c}`);
  }
});

Deno.test("every script's --help gives each flag its range and default; an int flag refuses what its help excludes", async () => {
  const scripts: [string, string[]][] = [
    ["experiments/memory.ts", ["--seeds", "--epochs", "--jobs", "--only", "--out", "--max-memory", "--resume"]],
    ["experiments/capacity.ts", ["--shard", "--seeds", "--cells", "--hiddens", "--echo-max", "--group", "--out"]],
    ["experiments/parity.ts", ["--only", "--jobs", "--shard", "--max-seeds", "--out", "--summary-only"]],
    ["experiments/merge.ts", ["SHARD.csv...", "--out", "--force"]],
    ["experiments/migrate.ts", ["[DIR]"]],
    ["bench/bench.ts", ["--backends"]],
  ];
  const dir = await Deno.makeTempDir({ prefix: "echolab-test-" });
  for (const [script, names] of scripts) {
    const help = await runDeno(script, ["--help"], dir);
    assert.equal(help.code, 0, `${script}: ${help.stderr}`);
    assert.match(help.stdout, /^usage: deno task \S+/m);
    assert.match(help.stdout, /^exit codes: /m);
    for (const name of names) assert.match(help.stdout, new RegExp(`^ {2}${name.replace(/[.[\]]/g, "\\$&")} `, "m"));
    for (const line of help.stdout.split("\n")) {
      assert.ok(line.length <= 112, `${script}: a line of ${line.length} characters: ${line}`);
      assert.ok(!/undefined|NaN|\{range\}|\{default\}/.test(line), `${script}: ${line}`);
    }
    // An entry that takes a value states its default.
    for (const m of help.stdout.matchAll(/^ {2}--([a-z-]+) \S+/gm)) {
      assert.match(helpEntry(help.stdout, m[1])!, /\(default [^)]+\)/, `${script} --${m[1]}`);
    }
    // Each integer flag with a fixed range refuses one past it, naming the range its help shows.
    for (const m of help.stdout.matchAll(/^ {2}--([a-z-]+) N .*?, (\d+)\.\.(\d+) \(default/gm)) {
      const [, flag, min, max] = m, bad = String(Number(max) + 1);
      const r = await runDeno(script, [`--${flag}`, bad, ...(script.includes("merge") ? ["x.csv"] : [])], dir);
      oneLine(r, 2, new RegExp(`^error: --${flag} must be an integer in ${min}\\.\\.${max}, got "${bad}"$`), script);
    }
  }
  assert.deepEqual(listing(dir), []);
  await Deno.remove(dir, { recursive: true });
});
