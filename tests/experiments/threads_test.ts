/**
 * Every core in one process (issue 16, part 3): `--threads N` splits the
 * replicas over N workers (lib/threads.ts) and changes no result: every CSV
 * field but run_id and seconds, and every printed line but the model's
 * `over N threads` and the CSV's path, is the same at 1, 2 and 3 threads. Workers
 * free their tensors, die with an interrupted run (which keeps every row it
 * finished), and a sweep divides the cores between `--jobs` and `--threads`.
 */
import { assert } from "../_assert.ts";
import { runDeno, runScript, type ScriptRun } from "../_run.ts";
import { seedBlocks, WorkerPool } from "../../lib/threads.ts";
import { LocalTrainer } from "../../lib/replicas.ts";
import { divideCores } from "../../lib/sweep.ts";
import { NOTEBOOK, type RunConfig, UsageError } from "../../lib/cli.ts";
import { useBackend } from "../../lib/backend.ts";
import { tf } from "../../lib/tf.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("seedBlocks: contiguous blocks in seed order, sizes within one of each other, none empty", () => {
  assert.deepEqual(seedBlocks([1, 2, 3, 4, 5, 6, 7], 3), [[1, 2, 3], [4, 5], [6, 7]]);
  assert.deepEqual(seedBlocks([9, 4], 5), [[9], [4]]);
  assert.deepEqual(seedBlocks([3], 1), [[3]]);
  for (let s = 1; s <= 20; s++) {
    for (let n = 1; n <= 8; n++) {
      const seeds = Array.from({ length: s }, (_, i) => 100 + i), blocks = seedBlocks(seeds, n);
      assert.deepEqual(blocks.flat(), seeds);
      assert.equal(blocks.length, Math.min(n, s));
      const sizes = blocks.map((b) => b.length);
      assert.ok(Math.min(...sizes) >= 1 && Math.max(...sizes) - Math.min(...sizes) <= 1, `${s} over ${n}: ${sizes}`);
    }
  }
});

Deno.test("divideCores: jobs x threads never more than the cores; both flags named when asked for more", () => {
  // Without --threads, each child gets the cores its share allows, at least 1, at most `most`.
  assert.deepEqual(divideCores(2, false, null, Infinity, 8), { jobs: 2, threads: 4 });
  assert.deepEqual(divideCores(3, true, null, Infinity, 8), { jobs: 3, threads: 2 });
  assert.deepEqual(divideCores(16, true, null, Infinity, 8), { jobs: 16, threads: 1 });
  assert.deepEqual(divideCores(1, true, null, 1, 8), { jobs: 1, threads: 1 }); // a one-thread backend
  // With --threads and without --jobs, the jobs follow from it.
  assert.deepEqual(divideCores(8, false, 2, Infinity, 8), { jobs: 4, threads: 2 });
  assert.deepEqual(divideCores(2, false, 3, Infinity, 8), { jobs: 2, threads: 3 });
  assert.deepEqual(divideCores(2, true, 4, Infinity, 8), { jobs: 2, threads: 4 });
  assert.throws(() => divideCores(3, true, 3, Infinity, 8), UsageError, "--jobs 3 x --threads 3 is 9 threads");
  assert.throws(() => divideCores(2, false, 9, Infinity, 8), UsageError, "--jobs 1 x --threads 9");
});

/** The lines a run printed, less those that name its thread count or its own CSV. */
function lines(r: ScriptRun): string[] {
  return r.stdout.trim().split("\n").filter((l) => !l.startsWith("csv: "))
    .map((l) => l.replace(/ out=\S+ /, " out=* ").replace(/ over \d threads$/, ""));
}

/** Its CSV rows without the fields that differ between any two runs. */
function fields(r: ScriptRun): Record<string, string>[] {
  return r.rows.map(({ run_id: _id, seconds: _s, ...rest }) => rest);
}

for (
  const [script, args] of [
    ["echo3", ["--seed", "1", "--seeds", "6", "--epochs", "2", "--series", "400"]],
    // The op kernel, and a learning rate at which seed 6 diverges (alive joined across workers).
    [
      "echo10-h4",
      ["--seeds", "6", "--epochs", "2", "--series", "400", "--kernel", "op", "--lr", "10"]
        .concat(["--cell", "irnn", "--identity-scale", "10"]),
    ],
  ] as [string, string[]][]
) {
  Deno.test(`${script} ${args.join(" ")}: the same CSV and lines at --threads 1, 2 and 3`, async () => {
    const runs: ScriptRun[] = [];
    for (const threads of ["1", "2", "3"]) {
      const r = await runScript(script, [...args, "--threads", threads, "--backend", "wasm"]);
      assert.equal(r.code, 0, `--threads ${threads}: ${r.stderr}`);
      assert.equal(r.stderr, "");
      assert.match(
        r.stdout,
        new RegExp(`^model: .* replica\\(s\\)${threads === "1" ? "" : ` over ${threads} threads`}$`, "m"),
      );
      runs.push(r);
    }
    const seeds = Number(args[args.indexOf("--seeds") + 1]);
    if (args.includes("--lr")) assert.match(runs[0].stdout, /\[seed 6\] Test accuracy: diverged/);
    assert.equal(runs[0].rows.length, seeds * 3, "a row per seed per epoch, and the test's");
    for (const r of runs.slice(1)) {
      assert.deepEqual(fields(r), fields(runs[0]));
      assert.deepEqual(lines(r), lines(runs[0]));
    }
  });
}

Deno.test("a worker pool returns what one thread returns, step reports joined, and frees every tensor", async () => {
  await useBackend("wasm");
  const cfg: RunConfig = { ...NOTEBOOK, seeds: [3, 4, 5, 6, 7], series: 200, echoStep: 2, cell: "lstm", threads: 2 };
  const before = tf.memory().numTensors;
  const local = new LocalTrainer(cfg);
  const pool = await WorkerPool.start(cfg, seedBlocks(cfg.seeds, 2), "wasm", true);
  const steps: [number, number][] = [];
  for (let epoch = 0; epoch < 2; epoch++) {
    assert.deepEqual(await pool.train((done, total) => steps.push([done, total])), await local.train());
  }
  assert.deepEqual(await pool.test(), await local.test());
  assert.deepEqual(await pool.echoCheck(100), await local.echoCheck(100));
  assert.equal(pool.parameters, local.parameters);
  assert.equal(pool.recurrence, local.recurrence);
  assert.ok(steps.length > 0, "no step reports");
  assert.deepEqual(steps.at(-1), [10, 10], "the last report is the last step of both workers");
  await pool.dispose();
  assert.deepEqual(pool.tensorsLeft, [0, 0], "tensors left in the workers");
  await local.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors left here");
});

Deno.test("SIGINT of a run over 2 threads: it ends at once, and keeps every epoch it finished", async () => {
  const out = await Deno.makeTempDir({ prefix: "echolab-threads-" });
  const child = new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${out}`, "experiments/echo3.ts", "--seeds", "4", "--threads", "2"]
      .concat(["--epochs", "500", "--series", "2000", "--out", out]),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const csv = () => [...Deno.readDirSync(out)].map((e) => Deno.readTextFileSync(`${out}/${e.name}`))[0] ?? "";
  try {
    for (const end = Date.now() + 60_000; Date.now() < end && csv().split("\n").length < 10;) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGINT");
    const t0 = Date.now();
    const status = await child.status;
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms to end`);
    assert.equal(status.success, false);
    const rows = csv().trim().split("\n").slice(1);
    assert.ok(rows.length >= 8, `${rows.length} rows`);
    assert.equal(rows.length % 4, 0, "whole epochs only: a row for every seed");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.output().catch(() => {});
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("exp:memory hands each config's child --threads: the cores over --jobs, or as given", async () => {
  const cores = navigator.hardwareConcurrency;
  const out = await Deno.makeTempDir({ prefix: "echolab-threads-" });
  const sweep = (args: string[]) =>
    runDeno(
      "experiments/memory.ts",
      ["--only", "rnn-h4", "--seeds", "2", "--epochs", "1", "--backend", "wasm", "--out", out, ...args],
      out,
      ["--allow-run=deno"],
    );
  const childThreads = () => {
    const dir = `${out}/rnn-h4`;
    const log = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".log")).map((e) => e.name).sort().pop()!;
    return Number(/^model: .* over (\d+) threads$/m.exec(Deno.readTextFileSync(`${dir}/${log}`))?.[1] ?? 1);
  };
  try {
    let r = await sweep(["--jobs", "1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(childThreads(), Math.min(cores, 2), "the cores, up to its 2 replicas");
    r = await sweep(["--jobs", "1", "--threads", "1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(childThreads(), 1);
    const before = [...Deno.readDirSync(out)].length;
    r = await sweep(["--jobs", "256", "--threads", "256"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr.trim(),
      new RegExp(`^error: --jobs 256 x --threads 256 is 65536 threads, more than the ${cores} core`),
    );
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal([...Deno.readDirSync(out)].length, before, "wrote nothing");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
