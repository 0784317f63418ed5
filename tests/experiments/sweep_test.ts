/**
 * Sweeps behave like one program (issue 14, section 3): exp:memory's children
 * die with it on SIGTERM, SIGINT and SIGKILL; a child's log grows while it
 * runs; `--resume` reruns only the configs an interrupted sweep left
 * unfinished and refuses other flags. Each case runs exp:memory as a user
 * would, with one seed of a 4-unit RNN, and finds its children by their
 * command lines in /proc. The library pieces (sweep records, complete CSVs,
 * the progress line) are checked in process. The resume of a real
 * interrupted sweep is behind `deno task test:slow` (ECHOLAB_SLOW=1).
 */
import { assert } from "../_assert.ts";
import { listing, runDeno } from "../_run.ts";
import { CsvLog } from "../../lib/csv_log.ts";
import { CSV_COLUMNS } from "../../lib/experiment.ts";
import { assertSameFlags, completeCsv, latestSweepRecord, type SweepRecord } from "../../lib/sweep_record.ts";
import { formatDuration, formatSweepProgress, SweepProgress } from "../../lib/sweep_progress.ts";
import { UsageError } from "../../lib/cli.ts";

const slow = Deno.env.get("ECHOLAB_SLOW") === "1";
const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Bash, reading /proc/<pid>/cmdline (Deno itself may read /proc only with
 * --allow-all): the pids of `deno` processes whose command line holds
 * `echo10-h4.ts` and $1. A zombie's command line is empty, so only live ones.
 */
const FIND_CHILDREN = `for f in /proc/[0-9]*/cmdline; do
  IFS= read -r -d '' argv0 < "$f" 2>/dev/null || continue
  [[ $argv0 == *deno ]] || continue
  c=$(tr '\\0' ' ' < "$f" 2>/dev/null)
  [[ $c == *echo10-h4.ts* && $c == *"$1"* ]] && { p=\${f#/proc/}; echo \${p%/cmdline}; }
done; true`;

/** Pids of live `deno` processes whose command line holds `echo10-h4.ts` and `dir`: a sweep's children. */
async function children(dir: string): Promise<number[]> {
  const out = await new Deno.Command("bash", { args: ["-c", FIND_CHILDREN, "_", dir], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").map(Number);
}

/** Polls `ok` every 100 ms until it holds; false after `ms`. */
async function until(ok: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await ok();
}

/** Starts exp:memory as `deno task exp:memory` would, writing to `dir`. */
function startSweep(dir: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${dir}`, "--allow-run=deno", "experiments/memory.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** The text of the only file matching `re` in `dir`, or "" while there is none. */
function readOne(dir: string, re: RegExp): string {
  try {
    const name = [...Deno.readDirSync(dir)].find((e) => re.test(e.name))?.name;
    return name ? Deno.readTextFileSync(`${dir}/${name}`) : "";
  } catch {
    return "";
  }
}

/** Runs `body` with a fresh temp dir; afterwards kills whatever child of a sweep in it is left, and removes it. */
async function withTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "echolab-sweep-" });
  try {
    await body(dir);
  } finally {
    const left = (await children(dir)).map(String);
    if (left.length) {
      await new Deno.Command("bash", { args: ["-c", 'kill -9 "$@" 2>/dev/null; true', "_", ...left] }).output();
    }
    await Deno.remove(dir, { recursive: true });
  }
}

// Long enough that a run is still training when signalled, however fast the step (the wasm epoch trains one
// replica of rnn-h4 in milliseconds an epoch): the most epochs the flag takes.
const LONG = ["--only", "rnn-h4", "--seeds", "1", "--epochs", "10000", "--jobs", "1"];

/**
 * Starts a sweep of one long config, waits until its child has trained an
 * epoch, sends the sweep `signal`, and returns what the sweep printed, how
 * it exited, its children still live when it had exited, and how long they
 * outlived it (null: still there after 5 s). `whileRunning` runs before the signal, with the child's log.
 */
async function killSweep(
  signal: Deno.Signal,
  dir: string,
  whileRunning: (log: () => string) => Promise<void> = async () => {},
) {
  const sweep = startSweep(dir, [...LONG, "--out", dir]);
  const log = () => readOne(`${dir}/rnn-h4`, /\.log$/);
  const started = await until(
    async () => log().includes("Train Epoch: 1/10000") && (await children(dir)).length > 0,
    90_000,
  );
  if (!started) {
    sweep.kill("SIGKILL");
    const out = await sweep.output();
    throw new Error(`the sweep's child never trained an epoch:\n${new TextDecoder().decode(out.stderr)}`);
  }
  await whileRunning(log);
  sweep.kill(signal);
  const out = await sweep.output();
  const atExit = await children(dir);
  const t0 = Date.now();
  const gone = await until(async () => (await children(dir)).length === 0, 5000);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    /** Children live when the sweep had exited. */
    atExit,
    outlived: gone ? (Date.now() - t0) / 1000 : null,
  };
}

Deno.test("exp:memory: SIGTERM ends the running child; its log grew while it ran", async () => {
  await withTemp(async (dir) => {
    const r = await killSweep("SIGTERM", dir, async (log) => {
      // The child is still training: its log already holds epoch 1 and grows, appended to, as it prints.
      const before = log();
      assert.ok(await until(() => log().length > before.length, 30_000), `the log did not grow:\n${log()}`);
      assert.ok(log().startsWith(before), "the log is appended to, not rewritten");
      assert.ok((await children(dir)).length > 0, "the child was still running");
    });
    assert.ok(r.outlived !== null, `a child outlived the sweep: ${await children(dir)}`);
    assert.deepEqual(r.atExit, [], "children are ended before the sweep exits");
    assert.equal(r.code, 143, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^error: SIGTERM: stopped sweep \S+, 1 running config\(s\) ended \(rnn-h4\); .*--resume/);
  });
});

Deno.test("exp:memory: SIGINT ends the running child before the sweep exits", async () => {
  await withTemp(async (dir) => {
    const r = await killSweep("SIGINT", dir);
    assert.ok(r.outlived !== null, `a child outlived the sweep: ${await children(dir)}`);
    assert.deepEqual(r.atExit, [], "children are ended before the sweep exits");
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr.trim(), /^error: SIGINT: stopped sweep /);
  });
});

Deno.test("exp:memory: after SIGKILL of the sweep its child stops by itself within seconds", async () => {
  await withTemp(async (dir) => {
    const r = await killSweep("SIGKILL", dir);
    assert.equal(r.code, 137);
    assert.ok(r.outlived !== null, `a child outlived the sweep by 5 s: ${await children(dir)}`);
  });
});

Deno.test("exp:memory: a child that dies is named, exit 1; logs are never overwritten", async () => {
  await withTemp(async (dir) => {
    Deno.mkdirSync(`${dir}/rnn-h4`);
    Deno.writeTextFileSync(`${dir}/rnn-h4/rnn-h4.log`, "an earlier sweep\n");
    const sweep = startSweep(dir, [...LONG, "--out", dir]);
    assert.ok(await until(async () => (await children(dir)).length > 0, 60_000), "the child never started");
    const [pid] = await children(dir);
    await new Deno.Command("bash", { args: ["-c", `kill -KILL ${pid}`] }).output();
    const out = await sweep.output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1, stderr);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(
      stderr,
      /^error: 1 of 1 config\(s\) failed: rnn-h4 \(exit 137; \S+rnn-h4-\d{8}-\d{6}-[a-z0-9]{4}\.log\)$/,
    );
    assert.equal(Deno.readTextFileSync(`${dir}/rnn-h4/rnn-h4.log`), "an earlier sweep\n");
    assert.deepEqual(listing(dir).filter((f) => f.startsWith("summary") || /-summary\./.test(f)), []);
  });
});

Deno.test("exp:memory --resume: refused without a record, with --summary-only, or with other flags; nothing written", async () => {
  await withTemp(async (dir) => {
    const none = await runDeno("experiments/memory.ts", ["--resume", ...LONG, "--out", dir], dir, ["--allow-run=deno"]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /^error: --resume: --out .* holds no sweep-<run id>\.json of a sweep to resume\n$/);
    assert.deepEqual(listing(dir), []);
    const both = await runDeno("experiments/memory.ts", ["--resume", "--summary-only", "--out", dir], dir);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /^error: --resume runs a sweep; it cannot go with --summary-only\n$/);

    // An interrupted sweep: killed as soon as it has recorded its flags.
    const sweep = startSweep(dir, [...LONG, "--out", dir]);
    const recorded = await until(() => readOne(dir, /^sweep-.*\.json$/).endsWith("\n"), 30_000);
    sweep.kill("SIGKILL");
    await sweep.output();
    assert.ok(recorded, "the sweep recorded its flags");
    await until(async () => (await children(dir)).length === 0, 5000);
    const before = listing(dir);
    const flags = ["--only", "rnn-h4", "--seeds", "1", "--jobs", "1"];
    for (
      const [args, flag] of [
        [[...flags, "--epochs", "5"], "--epochs 5 differs from the interrupted sweep's --epochs 10000"],
        [["--only", "rnn-h4,gru-h4", "--seeds", "1", "--epochs", "10000"], "--only rnn-h4,gru-h4 differs"],
        [["--only", "rnn-h4", "--seeds", "2", "--epochs", "10000"], "--seeds 2 differs"],
      ] as const
    ) {
      const r = await runDeno("experiments/memory.ts", ["--resume", ...args, "--out", dir], dir, ["--allow-run=deno"]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(`error: ${flag}`), lines[0]);
      assert.match(lines[0], /; --resume needs the same flags$/);
      assert.equal(r.stdout, "", "nothing printed before the refusal");
      assert.deepEqual(listing(dir), before, "nothing written");
    }
  });
});

Deno.test({
  name: "exp:memory --resume after an interrupted sweep of two configs reruns only the unfinished one (slow)",
  ignore: !slow,
  fn: async () => {
    await withTemp(async (dir) => {
      // --jobs 1 runs lstm-h4, then rnn-h4 (the pool's order); stop the sweep as soon as rnn-h4 starts.
      const args = ["--only", "rnn-h4,lstm-h4", "--seeds", "2", "--epochs", "1", "--jobs", "1", "--out", dir];
      const sweep = startSweep(dir, args);
      const second = await until(() => readOne(`${dir}/rnn-h4`, /\.log$/) !== "", 120_000);
      sweep.kill("SIGTERM");
      const first = await sweep.output();
      assert.ok(second, new TextDecoder().decode(first.stderr));
      assert.equal(first.code, 143);
      const since = /^sweep-(.*)\.json$/.exec(listing(dir).find((f) => f.endsWith(".json"))!)![1];
      assert.ok(completeCsv(`${dir}/lstm-h4`, "lstm-h4", 2, 1, since), "lstm-h4 finished");
      assert.equal(completeCsv(`${dir}/rnn-h4`, "rnn-h4", 2, 1, since), null, "rnn-h4 was interrupted");
      const lstmFiles = listing(`${dir}/lstm-h4`);

      const r = await runDeno("experiments/memory.ts", ["--resume", ...args], dir, ["--allow-run=deno"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^resuming sweep \S+: skipping 1 complete config\(s\) \(lstm-h4\); rerunning 1 \(rnn-h4\)$/m,
      );
      assert.match(r.stdout, /^\[1\/1\] rnn-h4: exit 0/m);
      assert.ok(!/\] lstm-h4:/.test(r.stdout), r.stdout);
      assert.deepEqual(listing(`${dir}/lstm-h4`), lstmFiles, "lstm-h4 was not run again");
      assert.ok(completeCsv(`${dir}/rnn-h4`, "rnn-h4", 2, 1, since), "rnn-h4 is complete now");
      assert.match(r.stdout, /this sweep \(\S+\), 2 of 2 config\(s\)/);
      // The resumed sweep's record keeps the first sweep's start, so a second --resume still finds lstm-h4's CSV.
      const records = listing(dir).filter((f) => /^sweep-[^.]*\.json$/.test(f));
      assert.equal(records.length, 2, listing(dir).join(", "));
      assert.equal(latestSweepRecord(dir, "exp:memory").since, since);
    });
  },
});

/** Writes an experiment CSV for `seeds` with train rows and test rows for `tested` of them. */
function writeRun(dir: string, name: string, runId: string, seeds: number[], tested: number[], epochs = 3): string {
  const log = CsvLog.create(`${dir}/${name}-${runId}.csv`, CSV_COLUMNS);
  const row = (seed: number, phase: string) => ({
    experiment: name,
    run_id: runId,
    seed,
    phase,
    epoch: epochs,
    epochs,
  });
  log.append(...seeds.map((s) => row(s, "train")), ...tested.map((s) => row(s, "test")));
  return log.path;
}

Deno.test("completeCsv: a test row for every seed, at the sweep's epochs, since the sweep began", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const since = "20261201-120000-aaaa";
    assert.equal(completeCsv(`${dir}/none`, "rnn-h4", 2, 3, since), null);
    writeRun(dir, "rnn-h4", "20261201-110000-old0", [1, 2], [1, 2]); // before the sweep
    writeRun(dir, "rnn-h4", "20261201-120100-part", [1, 2], [1]); // a seed without its test row
    writeRun(dir, "rnn-h4", "20261201-120200-epch", [1, 2], [1, 2], 5); // other epochs
    writeRun(dir, "gru-h4", "20261201-120300-othr", [1, 2], [1, 2]); // another experiment
    assert.equal(completeCsv(dir, "rnn-h4", 2, 3, since), null);
    assert.ok(completeCsv(dir, "rnn-h4", 2, 3, "20261201-100000-aaaa")?.endsWith("old0.csv"), "older sweeps see it");
    const good = writeRun(dir, "rnn-h4", "20261201-120400-good", [1, 2], [1, 2]);
    assert.equal(completeCsv(dir, "rnn-h4", 2, 3, since), good);
    assert.equal(completeCsv(dir, "rnn-h4", 3, 3, since), null, "a sweep of 3 seeds");
    Deno.writeTextFileSync(`${dir}/rnn-h4-20261201-120500-zzzz.csv`, 'not,a\ncsv\n"');
    assert.equal(completeCsv(dir, "rnn-h4", 2, 3, since), good, "a broken CSV is skipped");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sweep records: the latest is found; a differing flag is named", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const rec = (runId: string, epochs: string): SweepRecord => ({
      task: "exp:memory",
      runId,
      since: runId,
      flags: { "--seeds": "1", "--epochs": epochs },
      other: {},
      configs: ["rnn-h4"],
    });
    for (const r of [rec("20261201-120000-aaaa", "1"), rec("20261202-090000-bbbb", "7")]) {
      Deno.writeTextFileSync(`${dir}/sweep-${r.runId}.json`, JSON.stringify(r));
    }
    Deno.writeTextFileSync(`${dir}/sweep-20261203-000000-cccc-summary.md`, "not a record");
    const latest = latestSweepRecord(dir, "exp:memory");
    assert.equal(latest.runId, "20261202-090000-bbbb");
    assertSameFlags(latest, { "--seeds": "1", "--epochs": "7" }, dir);
    const usage = (re: RegExp) => (err: unknown) => err instanceof UsageError && re.test(err.message);
    assert.throws(() => assertSameFlags(latest, { "--seeds": "1", "--epochs": "1" }, dir), usage(/^--epochs 1 /));
    assert.throws(() => assertSameFlags(latest, { "--seeds": "1" }, dir), usage(/^--epochs \(not given\)/));
    assert.throws(() => latestSweepRecord(dir, "exp:parity"), usage(/not a record of a exp:parity sweep$/));
    Deno.writeTextFileSync(`${dir}/sweep-20261204-000000-dddd.json`, "{");
    assert.throws(() => latestSweepRecord(dir, "exp:memory"), usage(/dddd\.json is not a sweep record/));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the sweep's progress line: counts, elapsed, time left from the work done; never wider than the terminal", () => {
  const s = { noun: "configs", done: 1, total: 4, seedsDone: 20, seedsTotal: 80, fraction: 0.25, seconds: 60 };
  assert.equal(formatSweepProgress(s, 200), "sweep: 1/4 configs, 20/80 seeds, 1m00s elapsed, about 3m00s left");
  assert.equal(formatSweepProgress({ ...s, fraction: 0 }, 200), "sweep: 1/4 configs, 20/80 seeds, 1m00s elapsed");
  assert.equal(formatSweepProgress(s, 30).length, 29);
  assert.equal(formatDuration(3 * 3600 + 7 * 60 + 5), "3h07m");
  const p = new SweepProgress("configs", 2, 4, false);
  p.partial("a", 0.5);
  assert.equal(p.state.fraction, 0.25);
  p.finish("a", 2);
  p.partial("b", 0.5);
  assert.deepEqual([p.state.done, p.state.seedsDone, p.state.fraction], [1, 2, 0.75]);
  p.stop();
});
