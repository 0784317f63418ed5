/**
 * Files read back are checked (lib/readback.ts): `deno task merge` and
 * `deno task report`, run as a user runs them, refuse every kind of bad
 * input (a missing, empty, cut, corrupt or endless file, a row a run could
 * not have written, a manifest that does not name the published files) with
 * exit code 2, exactly one line on stderr naming the file and, where there
 * is one, the line, and nothing written. Then the library readers the
 * scripts share, one by one.
 */
import { DATA_GENERATOR } from "../../lib/echo_bits.ts";
import { assert } from "../_assert.ts";
import { type CellKind } from "../../lib/models.ts";
import { gridPoints, SHARD_COLUMNS, shardFileName, shardPoints } from "../../lib/capacity.ts";
// The library readers (tests at the end).
import { MERGED_CSV, readMerged, readShard, SHARD_CSV } from "../../lib/capacity.ts";
import { intIn, matching, parseCsv, ReadbackError, readBoundedText } from "../../lib/readback.ts";
import { BENCH_CSV, EXPERIMENT_CSV, GRADIENTS_CSV } from "../../lib/schemas.ts";
import {
  PARITY_SUMMARY_CSV,
  PER_SEED_COLUMNS,
  PER_SEED_CSV,
  readSeedRows,
  summariseParity,
  SUMMARY_COLUMNS,
  summaryCsvRows,
} from "../../lib/parity.ts";
import { readRuns } from "../../lib/summary.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Run {
  code: number;
  stderr: string;
}

/** `deno run` of a script from the repository root, writing only under `write`, killed after 120 s. */
async function run(script: string, args: string[], write: string): Promise<Run> {
  const r = await new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${write}`, script, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

/**
 * Every file under `dir` with its size, modification time and (up to 1 MiB)
 * bytes, sorted: equal before and after means nothing was written.
 */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of Deno.readDirSync(d)) {
      const path = `${d}/${e.name}`, info = Deno.lstatSync(path);
      if (e.isDirectory) walk(path, `${rel}${e.name}/`);
      const bytes = e.isFile && info.size <= 1 << 20 ? Deno.readFileSync(path).join(",") : "";
      out.push(`${rel}${e.name} ${info.size} ${info.mtime?.getTime()} ${bytes}`);
    }
  };
  walk(dir, "");
  return out.sort();
}

/** Exit 2, exactly one line on stderr matching `re`, no stack trace, no crash text. */
function refused(r: Run, re: RegExp, what: string): void {
  const lines = r.stderr.trim().split("\n");
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr:\n${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: ${lines.length} lines of stderr:\n${r.stderr}`);
  assert.match(lines[0], re, `${what}: ${lines[0]}`);
  assert.ok(!/\n\s+at |Cannot read properties|undefined/.test(r.stderr), `${what}: ${r.stderr}`);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A FIFO at `path` (mkfifo): opening it to read would wait for a writer for ever. */
async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("bash", { args: ["-c", 'mkfifo "$0"', path] }).output();
  assert.equal(r.code, 0, "mkfifo");
}

/** A sparse file of `mib` MiB: a file past the read cap that costs no disk. */
function sparse(path: string, mib: number): void {
  Deno.writeTextFileSync(path, "");
  Deno.truncateSync(path, mib * 1024 * 1024);
}

/** CSV text with line `line` (the header is line 1) given `value` in column `col`. */
function setField(text: string, line: number, col: string, value: string): string {
  const lines = text.split("\n");
  const k = lines[0].replace(/\r$/, "").split(",").indexOf(col);
  assert.ok(k >= 0, `no column ${col}`);
  const fields = lines[line - 1].split(",");
  fields[k] = value;
  lines[line - 1] = fields.join(",");
  return lines.join("\n");
}

/** CSV text with line `line` written twice. */
const repeatLine = (text: string, line: number) => {
  const lines = text.split("\n");
  lines.splice(line, 0, lines[line - 1]);
  return lines.join("\n");
};

/** CSV text without line `line`. */
const dropLine = (text: string, line: number) => text.split("\n").filter((_, i) => i !== line - 1).join("\n");

/** CSV text with its header column `col` renamed `to`. */
const renameColumn = (text: string, col: string, to: string) => {
  const [header, ...rest] = text.split("\n");
  return [header.split(",").map((c) => (c === col ? to : c)).join(","), ...rest].join("\n");
};

// ---------------------------------------------------------------- merge

const GRID = { cells: ["rnn", "lstm"] as CellKind[], hiddens: [4], echoMax: 5 };
const SHARDS = 3, GRID_ID = "abcd1234", GRID_SIZE = 10;

/** Shard `i` of 3 of a 10-point grid (rnn, lstm x H 4 x echo 1..5) as exp:capacity writes it. */
function shardText(i: number): string {
  const mine = shardPoints(gridPoints(GRID), i, SHARDS);
  const rows = mine.map((p) => {
    const row: Record<string, string | number> = {
      grid_id: GRID_ID,
      data_generator: DATA_GENERATOR,
      shard: i,
      shards: SHARDS,
      points: mine.length,
      cell: p.cell,
      hidden: p.hidden,
      echo_step: p.echoStep,
      seeds: 10,
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

const BAD = shardFileName(1, SHARDS, GRID_ID, GRID_SIZE, "20261130-000000-bad1");
/** The bad shard's name and line, as the first line of an error names them. */
const at = (line?: number) => `${esc(BAD)}${line ? `:${line}` : ""}`;
const good1 = shardText(1);

/** Each case: what it is, what stands in for shard 1 (text, bytes, or a function making a path), the error. */
const MERGE_CASES: [string, string | Uint8Array | ((dir: string) => Promise<string> | string), RegExp][] = [
  ["missing file", (dir) => `${dir}/nothere.csv`, /nothere\.csv: no such file$/],
  ["empty file", "", new RegExp(`${at()}: empty, not a capacity shard CSV`)],
  [
    "header only where rows are required",
    SHARD_COLUMNS.join(",") + "\n",
    new RegExp(`shard 1/3 in \\S*${at()} holds 0 grid points; shard 1 of 3 over a grid of 10 points holds 4`),
  ],
  [
    "wrong header",
    renameColumn(good1, "seconds", "secs"),
    new RegExp(
      `${at(1)}: not a capacity shard CSV \\(header column ${
        SHARD_COLUMNS.indexOf("seconds") + 1
      } is "secs", expected "seconds"\\)`,
    ),
  ],
  ["cut last row", good1.slice(0, -4), new RegExp(`${at(5)}: the last row is cut short`)],
  [
    "row cut mid-line",
    setField(good1, 3, "points", "4\n"),
    new RegExp(`${at(3)}: ${SHARD_COLUMNS.indexOf("points") + 1} fields, expected ${SHARD_COLUMNS.length}`),
  ],
  [
    "non-numeric accuracy",
    setField(good1, 2, "test_acc_median", "9x.5"),
    new RegExp(`${at(2)}: test_acc_median must be a number in 0\\.\\.100`),
  ],
  [
    "test_acc 999",
    setField(good1, 3, "test_acc_median", "999"),
    new RegExp(`${at(3)}: test_acc_median must be a number in 0\\.\\.100.*got "999"`),
  ],
  ["negative seconds", setField(good1, 2, "seconds", "-1.5"), new RegExp(`${at(2)}: seconds must be a number >= 0`)],
  ["NaN text", setField(good1, 4, "test_acc_median", "NaN"), new RegExp(`${at(4)}: test_acc_median must be`)],
  ["Infinity text", setField(good1, 2, "seconds", "Infinity"), new RegExp(`${at(2)}: seconds must be`)],
  [
    "unknown cell",
    setField(good1, 2, "cell", "transformer"),
    new RegExp(`${at(2)}: cell must be one of rnn, lstm, gru, irnn`),
  ],
  [
    "a row off its grid (echo step)",
    setField(good1, 3, "echo_step", "9"),
    new RegExp(`${at(3)}: rnn H 4 echo 9 is off its grid.*rnn H 4 echo 4 here`),
  ],
  [
    "a row off its grid (hidden size)",
    setField(good1, 4, "hidden", "8"),
    new RegExp(`${at(4)}: lstm H 8 echo 2 is off its grid.*lstm H 4 echo 2 here`),
  ],
  ["duplicated row", repeatLine(good1, 2), new RegExp(`${at(3)}: grid point rnn/4/1 again \\(first on line 2\\)`)],
  [
    "a shard trained otherwise",
    [2, 3, 4, 5].reduce((t, l) => setField(t, l, "seeds", "8"), good1),
    new RegExp(`seeds 10 differs from 8 at \\S*${at(2)}`),
  ],
  ["/dev/zero", () => "/dev/zero", /\/dev\/zero is not a regular file/],
  ["a directory", (dir) => dir, /case\d+ is a directory, not a shard CSV$/],
  ["a FIFO", async (dir) => (await mkfifo(`${dir}/fifo.csv`), `${dir}/fifo.csv`), /fifo\.csv is not a regular file/],
  ["not UTF-8", Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0xfe, 0x0a]), new RegExp(`${at()}: not a text file`)],
  ["over the read cap", (dir) => (sparse(`${dir}/${BAD}`, 300), `${dir}/${BAD}`), /larger than the 256 MiB/],
];

Deno.test("merge: every kind of bad shard is one line naming the file (and line), exit 2, nothing written", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "echolab-readback-" });
  try {
    const others = [2, 3].map((i) => {
      const path = `${dir}/${shardFileName(i, SHARDS, GRID_ID, GRID_SIZE, `20261130-000000-aaa${i}`)}`;
      Deno.writeTextFileSync(path, shardText(i));
      return path;
    });
    // The control: the good shard 1 merges.
    Deno.mkdirSync(`${dir}/good`);
    Deno.writeTextFileSync(`${dir}/good/${BAD}`, good1);
    const ok = await run("experiments/merge.ts", [`${dir}/good/${BAD}`, ...others, "--out", `${dir}/ok.csv`], dir);
    assert.equal(ok.code, 0, ok.stderr);
    Deno.removeSync(`${dir}/ok.csv`);

    for (const [k, [what, input, re]] of MERGE_CASES.entries()) {
      await t.step(what, async () => {
        const caseDir = `${dir}/case${k}`;
        Deno.mkdirSync(caseDir);
        let path = `${caseDir}/${BAD}`;
        if (typeof input === "string") Deno.writeTextFileSync(path, input);
        else if (input instanceof Uint8Array) Deno.writeFileSync(path, input);
        else path = await input(caseDir);
        const before = snapshot(dir);
        const out = `${dir}/out${k}/capacity.csv`; // its own, so that a case merge let through spoils no other
        refused(await run("experiments/merge.ts", [path, ...others, "--out", out], dir), re, what);
        assert.deepEqual(snapshot(dir), before, `${what}: merge wrote something`);
      });
    }
    await t.step("--out a FIFO", async () => {
      await mkfifo(`${dir}/out.fifo`);
      const before = snapshot(dir);
      const r = await run("experiments/merge.ts", [`${dir}/good/${BAD}`, ...others, "--out", `${dir}/out.fifo`], dir);
      refused(r, /^error: --out \S*out\.fifo/, "--out a FIFO");
      assert.deepEqual(snapshot(dir), before, "--out a FIFO: merge wrote something");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- report

const MANIFEST = JSON.parse(Deno.readTextFileSync(`${ROOT}results/manifest.json`));
const published = (p: string) => Deno.readTextFileSync(`${ROOT}results/${p}`);

/** A manifest case: the manifest (or a change to the published one), files it names, the error. */
interface ReportCase {
  what: string;
  /** The manifest's text, or a change to a copy of the published one, given where this case's files go. */
  manifest: string | ((m: Record<string, unknown>, files: string) => void);
  /** Files to write under this case's folder in results/ (relative path -> text). */
  files?: Record<string, string>;
  /** Makes a special file under this case's folder (absolute path of the folder). */
  special?: (dir: string) => Promise<void> | void;
  re: RegExp;
}

const run1 = () => published(MANIFEST.echo3Default);
/** The echo3 run whose file the manifest names as `echo3Default`, changed, as `bad.csv`. */
const badRun = (what: string, text: string, re: RegExp): ReportCase => ({
  what,
  manifest: (m, files) => (m.echo3Default = `${files}/bad.csv`),
  files: { "bad.csv": text },
  re,
});
const lastLine = () => run1().trim().split("\n").length;

const REPORT_CASES: ReportCase[] = [
  // The manifest itself.
  { what: "manifest missing", manifest: "", re: /^error: --manifest \S*nothere\.json: no such file$/ },
  { what: "manifest empty", manifest: "", re: /^error: --manifest \S*manifest\.json: not JSON/ },
  { what: "manifest corrupt", manifest: '{"notebook": {', re: /^error: --manifest \S*manifest\.json: not JSON/ },
  { what: "manifest an array", manifest: "[]", re: /--manifest \S*manifest\.json: not a JSON object/ },
  { what: "manifest null", manifest: "null", re: /--manifest \S*manifest\.json: not a JSON object/ },
  { what: "manifest key missing", manifest: (m) => delete m.bench, re: /manifest\.json: no key "bench"$/ },
  {
    what: "manifest notebook run missing",
    manifest: (m) => delete (m.notebook as Record<string, string>).echo3,
    re: /manifest\.json: no key notebook\.echo3$/,
  },
  {
    what: "manifest key of the wrong kind",
    manifest: (m) => (m.memory = (m.memory as string[])[0]),
    re: /manifest\.json: memory must be a non-empty list of paths under results\//,
  },
  { what: "manifest unknown key", manifest: (m) => (m.capcity = "x.csv"), re: /manifest\.json: unknown key "capcity"/ },
  {
    what: "manifest naming a missing file",
    manifest: (m, files) => ((m.memory as string[])[1] = `${files}/nothere.csv`),
    re: /manifest\.json: memory\[1\] names results\/\S*nothere\.csv, which does not exist$/,
  },
  {
    what: "manifest naming a file outside results/",
    manifest: (m) => (m.bench = "../README.md"),
    re: /manifest\.json: bench must be a path relative to results\/, got "\.\.\/README\.md"/,
  },
  {
    what: "manifest naming a directory",
    manifest: (m) => (m.gradients = "gradients"),
    re: /manifest\.json: gradients names results\/gradients, which is not a regular file$/,
  },
  {
    what: "manifest naming a FIFO",
    manifest: (m, files) => (m.echo3Default = `${files}/fifo.csv`),
    special: (dir) => mkfifo(`${dir}/fifo.csv`),
    re: /manifest\.json: echo3Default names results\/\S*fifo\.csv, which is not a regular file$/,
  },
  { what: "manifest /dev/zero", manifest: "", re: /^error: --manifest \/dev\/zero is not a regular file/ },
  { what: "manifest a directory", manifest: "", re: /^error: --manifest \S+ is a directory, not a manifest/ },
  { what: "manifest a FIFO", manifest: "", re: /^error: --manifest \S*fifo\.json is not a regular file/ },
  // An experiment CSV it names.
  badRun("empty CSV", "", /bad\.csv: empty, not an experiment CSV/),
  badRun("header only", run1().split("\n")[0] + "\n", /bad\.csv: holds no rows, only its header/),
  badRun("wrong header", renameColumn(run1(), "test_acc", "test_accuracy"), /bad\.csv:1: not an experiment CSV/),
  badRun("cut last row", run1().slice(0, -3), /bad\.csv:\d+: the last row is cut short/),
  badRun(
    "non-numeric accuracy",
    setField(run1(), 2, "train_acc", "abc"),
    /bad\.csv:2: train_acc must be a number in \[0, 100\] or empty, got "abc"/,
  ),
  badRun(
    "test_acc 999",
    setField(run1(), lastLine(), "test_acc", "999"),
    /bad\.csv:\d+: test_acc must be a number in \[0, 100\] or empty, got "999"/,
  ),
  badRun(
    "negative seconds",
    setField(run1(), 3, "seconds", "-2.5"),
    /bad\.csv:3: seconds must be a finite number >= 0, got "-2\.5"/,
  ),
  badRun("NaN text", setField(run1(), 4, "train_loss", "NaN"), /bad\.csv:4: train_loss must be a finite number/),
  badRun("Infinity text", setField(run1(), 2, "seconds", "Infinity"), /bad\.csv:2: seconds must be a finite number/),
  badRun("unknown cell", setField(run1(), 2, "cell", "transformer"), /bad\.csv:2: cell must be one of rnn, lstm/),
  badRun("unknown optimizer", setField(run1(), 2, "optimizer", "sgd"), /bad\.csv:2: optimizer must be one of rmsprop/),
  badRun("unknown backend", setField(run1(), 2, "backend", "tpu"), /bad\.csv:2: backend must be a backend/),
  badRun("epoch off the run", setField(run1(), 2, "epoch", "99"), /bad\.csv:2: epoch 99 is past the run's \d+ epochs/),
  badRun("parameters off the model", setField(run1(), 2, "parameters", "34"), /bad\.csv:2: parameters must be \d+/),
  badRun("a row in another run", setField(run1(), 3, "run_id", "20261130-000000-zzzz"), /bad\.csv:3: run_id .*differs/),
  badRun("duplicated row", repeatLine(run1(), 3), /bad\.csv:4: seed \d+, train epoch \d+ again \(first on line 3\)/),
  badRun(
    "unfinished run",
    dropLine(run1(), lastLine()),
    /bad\.csv:\d+: seed \d+ has \d+ of \d+ train epochs and no test/,
  ),
  {
    what: "CSV not UTF-8",
    manifest: (m, files) => (m.echo3Default = `${files}/bin.csv`),
    special: (dir) => Deno.writeFileSync(`${dir}/bin.csv`, Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x0a])),
    re: /bin\.csv: not a text file \(not UTF-8\)/,
  },
  {
    what: "CSV over the read cap",
    manifest: (m, files) => (m.echo3Default = `${files}/huge.csv`),
    special: (dir) => sparse(`${dir}/huge.csv`, 300),
    re: /huge\.csv is larger than the 256 MiB/,
  },
  // The other CSVs it names.
  {
    what: "capacity row off its grid",
    manifest: (m, files) => (m.capacity = `${files}/capacity.csv`),
    files: { "capacity.csv": setField(published(MANIFEST.capacity), 3, "echo_step", "31") },
    re: /capacity\.csv:3: rnn H 4 echo 31 is off its grid/,
  },
  {
    what: "capacity duplicated row",
    manifest: (m, files) => (m.capacity = `${files}/capacity.csv`),
    files: { "capacity.csv": repeatLine(published(MANIFEST.capacity), 2) },
    re: /capacity\.csv:3: grid point \w+\/\d+\/\d+ again \(first on line 2\)/,
  },
  {
    what: "capacity test_acc_median 999",
    manifest: (m, files) => (m.capacity = `${files}/capacity.csv`),
    files: { "capacity.csv": setField(published(MANIFEST.capacity), 2, "test_acc_median", "999") },
    re: /capacity\.csv:2: test_acc_median must be a number in 0\.\.100/,
  },
  {
    what: "capacity shard off its grid",
    manifest: (m, files) => ((m.capacityShards as string[])[1] = `${files}/shard-2-of-2-x.csv`),
    files: { "shard-2-of-2-x.csv": setField(published(MANIFEST.capacityShards[1]), 2, "hidden", "5") },
    re: /shard-2-of-2-x\.csv:2: \w+ H 5 echo 2 is off its grid/,
  },
  {
    what: "capacity: one shard as the merged CSV",
    manifest: (m) => (m.capacity = (m.capacityShards as string[])[0]),
    re: /shard-1-of-2-\S+\.csv: holds no rows of shard 2\/2/,
  },
  {
    what: "capacity shards: one missing",
    manifest: (m) => (m.capacityShards = (m.capacityShards as string[]).slice(0, 1)),
    re: /the manifest's capacityShards \(\S+\): missing shard\(s\) 2 of 2$/,
  },
  {
    what: "gradients negative gradient",
    manifest: (m, files) => (m.gradients = `${files}/g.csv`),
    files: { "g.csv": setField(published(MANIFEST.gradients), 2, "mean_abs_grad", "-1") },
    re: /g\.csv:2: mean_abs_grad must be a finite number >= 0/,
  },
  {
    what: "bench unknown backend",
    manifest: (m, files) => (m.bench = `${files}/b.csv`),
    files: { "b.csv": setField(published(MANIFEST.bench), 2, "backend", "tpu") },
    re: /b\.csv:2: backend must be a backend/,
  },
  {
    what: "parity rate past 1",
    manifest: (m, files) => (m.parity = `${files}/parity`),
    files: { "parity/summary.csv": setField(published(`${MANIFEST.parity}/summary.csv`), 2, "rate", "1.5") },
    re: /parity\/summary\.csv:2: rate must be a number in \[0, 1\]/,
  },
];
Deno.test("report: every kind of bad manifest or CSV is one line naming the file (and line), exit 2, nothing written", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "echolab-readback-" });
  const rel = `.readback-test-${crypto.randomUUID().slice(0, 8)}`; // under results/, where manifest paths point
  const fixtures = `${ROOT}results/${rel}`;
  try {
    for (const [k, c] of REPORT_CASES.entries()) {
      await t.step(c.what, async () => {
        const files = `${rel}/case${k}`, dir = `${fixtures}/case${k}`;
        Deno.mkdirSync(dir, { recursive: true });
        for (const [name, text] of Object.entries(c.files ?? {})) {
          Deno.mkdirSync(`${dir}/${name}`.replace(/\/[^/]+$/, ""), { recursive: true });
          Deno.writeTextFileSync(`${dir}/${name}`, text);
        }
        await c.special?.(dir);
        let manifest = `${tmp}/case${k}/manifest.json`;
        Deno.mkdirSync(`${tmp}/case${k}`);
        if (c.what === "manifest missing") manifest = `${tmp}/case${k}/nothere.json`;
        else if (c.what === "manifest /dev/zero") manifest = "/dev/zero";
        else if (c.what === "manifest a directory") manifest = `${tmp}/case${k}`;
        else if (c.what === "manifest a FIFO") await mkfifo(manifest = `${tmp}/case${k}/fifo.json`);
        else if (typeof c.manifest === "string") Deno.writeTextFileSync(manifest, c.manifest);
        else {
          const m = structuredClone(MANIFEST);
          c.manifest(m, files);
          Deno.writeTextFileSync(manifest, JSON.stringify(m, null, 2));
        }
        const out = `${tmp}/out${k}`;
        Deno.mkdirSync(out);
        refused(await run("experiments/report.ts", ["--out", out, "--manifest", manifest], out), c.re, c.what);
        assert.deepEqual(snapshot(out), [], `${c.what}: report wrote something`);
      });
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
    await Deno.remove(fixtures, { recursive: true }).catch(() => {});
  }
});

// ---------------------------------------------------------------- the library readers

const read = (path: string) => Deno.readTextFileSync(path);

Deno.test("every schema has a rule for each of its columns; summary.csv's columns are summaryCsvRows' keys", () => {
  for (const s of [EXPERIMENT_CSV, GRADIENTS_CSV, BENCH_CSV, SHARD_CSV, MERGED_CSV, PER_SEED_CSV, PARITY_SUMMARY_CSV]) {
    for (const c of s.columns) assert.equal(typeof s.rules[c], "function", `${s.kind}: no rule for ${c}`);
  }
  const rows = readSeedRows(`${ROOT}results/parity`);
  assert.deepEqual(Object.keys(summaryCsvRows(summariseParity(rows))[0]), [...SUMMARY_COLUMNS]);
});

Deno.test("readBoundedText reads up to its cap and refuses a byte more, saying the cap", () => {
  const dir = Deno.makeTempDirSync({ prefix: "echolab-readback-" });
  try {
    Deno.writeTextFileSync(`${dir}/f.csv`, "0123456789");
    assert.equal(readBoundedText(`${dir}/f.csv`, "CSV", 10), "0123456789");
    assert.throws(() => readBoundedText(`${dir}/f.csv`, "CSV", 9), /f\.csv is larger than the \S+ MiB read back/);
    assert.throws(() => readBoundedText(dir, "CSV"), ReadbackError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseCsv numbers lines as an editor does, past a quoted line break", () => {
  const schema = { kind: "test CSV", columns: ["a", "b"], rules: { a: intIn(0, 9), b: matching(/^[^,]*$/, "text") } };
  assert.deepEqual(parseCsv('a,b\n1,"x\ny"\n2,z\n', "t.csv", schema).lines, [2, 4]);
  assert.throws(() => parseCsv('a,b\n1,"x\ny"\nz,2\n', "t.csv", schema), /t\.csv:4: a must be an integer in 0\.\.9/);
  assert.throws(() => parseCsv('a,b\n1,"x\n', "t.csv", schema), /t\.csv:\d+: not valid CSV/);
});

Deno.test("readSeedRows checks every per-seed row, naming file and line; other CSVs and empty files are skipped", () => {
  const dir = Deno.makeTempDirSync({ prefix: "echolab-readback-" });
  try {
    const header = PER_SEED_COLUMNS.join(",");
    Deno.writeTextFileSync(
      `${dir}/a.csv`,
      `${header}\ntorch,cfg,regen,numpy-mt19937,1,0.1,90,99.5,4.5\necholab,cfg,regen,${DATA_GENERATOR},2,,,,0.5\n`,
    );
    assert.throws(() => readSeedRows(dir), /a\.csv:3: side "echolab" differs from "torch" on line 2/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  for (
    const [row, re] of [
      ["torch,cfg,regen,numpy-mt19937,1,0.1,90,999,4.5", /b\.csv:3: test_acc must be a number in \[0, 100\]/],
      ["torch,cfg,regen,numpy-mt19937,1,nan,90,99,4.5", /b\.csv:3: train_loss must be a finite number >= 0/],
      ["torch,cfg,regen,numpy-mt19937,1,0.1,90,,4.5", /b\.csv:3: test_acc must be filled on a PyTorch row/],
      ["torch,cfg,sometimes,numpy-mt19937,1,0.1,90,99,4.5", /b\.csv:3: mode must be one of regen, fixed/],
      ["torch,cfg,regen,numpy-mt19937,2,0.1,90,99,-1", /b\.csv:3: seconds must be a finite number >= 0/],
      ["torch,cfg,regen,philox4x32-10.v1,2,0.1,90,99,4.5", /b\.csv:3: data_generator must be one of numpy-mt19937 on/],
      ["torch,cfg,regen,numpy-mt19937,2,0.1,90,99,4.5", null],
    ] as const
  ) {
    const d = Deno.makeTempDirSync({ prefix: "echolab-readback-" });
    try {
      const header = PER_SEED_COLUMNS.join(",");
      Deno.writeTextFileSync(`${d}/b.csv`, `${header}\ntorch,cfg,regen,numpy-mt19937,3,0.1,90,99.5,4.5\n${row}\n`);
      Deno.writeTextFileSync(`${d}/log.csv`, "experiment,run_id,seed,phase\necho3,r,1,test\n");
      Deno.writeTextFileSync(`${d}/killed.csv`, "");
      if (re) assert.throws(() => readSeedRows(d), re);
      else assert.equal(readSeedRows(d).length, 2);
    } finally {
      Deno.removeSync(d, { recursive: true });
    }
  }
});

Deno.test("readRuns checks every experiment log, naming file and line; a run still training is fine", () => {
  const dir = Deno.makeTempDirSync({ prefix: "echolab-readback-" });
  try {
    const run = run1(), last = lastLine();
    Deno.writeTextFileSync(`${dir}/summary.csv`, read(`${ROOT}results/memory/summary.csv`));
    Deno.writeTextFileSync(`${dir}/a.csv`, dropLine(run, last)); // no test row yet
    assert.equal(readRuns(dir).length, last - 2);
    Deno.mkdirSync(`${dir}/deeper`);
    Deno.writeTextFileSync(`${dir}/deeper/b.csv`, setField(run, last, "test_acc", "999"));
    assert.throws(() => readRuns(dir), new RegExp(`deeper/b\\.csv:${last}: test_acc must be a number in \\[0, 100\\]`));
    Deno.writeTextFileSync(`${dir}/deeper/b.csv`, setField(run, 2, "status", "diverged"));
    assert.throws(() => readRuns(dir), /b\.csv:2: train_loss must be empty on a train row of a seed that diverged/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a CSV of an older version is refused with the advice to migrate it; another header says where it differs", () => {
  const [header, ...rest] = run1().split("\n");
  const cols = header.split(",");
  for (const older of EXPERIMENT_CSV.older ?? []) {
    const keep = cols.map((c) => older.includes(c));
    const text = [older.join(","), ...rest.map((l) => l.split(",").filter((_, i) => keep[i]).join(","))].join("\n");
    assert.throws(
      () => parseCsv(text, "old.csv", EXPERIMENT_CSV),
      /old\.csv:1: an experiment CSV written before its current columns: deno task migrate brings it up to date/,
    );
  }
  assert.ok(EXPERIMENT_CSV.older?.length, "lib/schemas.ts knows the experiment CSVs deno task migrate updates");
  assert.throws(
    () => parseCsv(renameColumn(run1(), "cell", "kind"), "new.csv", EXPERIMENT_CSV),
    /new\.csv:1: not an experiment CSV \(header column \d+ is "kind", expected "cell"\)/,
  );
});

Deno.test("the published results read back clean", () => {
  assert.ok(readRuns(`${ROOT}results/memory`).length > 0);
  assert.ok(readSeedRows(`${ROOT}results/parity`).length > 0);
  for (const p of MANIFEST.capacityShards) assert.ok(readShard(`${ROOT}results/${p}`).rows.length > 0, p);
  assert.ok(readMerged(`${ROOT}results/${MANIFEST.capacity}`).length > 0);
});
