import { assert, assertClose } from "../_assert.ts";
import { DATA_GENERATOR } from "../../lib/echo_bits.ts";
import { runDeno } from "../_run.ts";
import { fisherExact } from "../../lib/stats.ts";
import {
  echolabSeedRows,
  parityMarkdown,
  plateau,
  readSeedRows,
  shardSeeds,
  splitRoundRobin,
  summariseParity,
} from "../../lib/parity.ts";

const HEADER = "side,config,mode,data_generator,seed,train_loss,train_acc,test_acc,seconds\n";

/** Two tiny per-seed CSVs (one per side), an experiment log to ignore, and a duplicated seed. */
function syntheticDir(): string {
  const dir = Deno.makeTempDirSync({ prefix: "echolab-parity-" });
  Deno.mkdirSync(`${dir}/torch`);
  Deno.mkdirSync(`${dir}/echolab/raw`, { recursive: true });
  const torch = [100, 99, 50.1, 76.5, 85, 98.9].map((a, i) => `torch,cfg,regen,numpy-mt19937,${i + 1},0.1,90,${a},4.5`);
  Deno.writeTextFileSync(`${dir}/torch/cfg-regen-shard1of1-job1.csv`, HEADER + torch.join("\n") + "\n");
  // seed 6 again in another file: kept once (the first, in file-name order)
  Deno.writeTextFileSync(
    `${dir}/torch/cfg-regen-shard1of1-job2.csv`,
    HEADER + "torch,cfg,regen,numpy-mt19937,6,0.1,90,100,4.5\n",
  );
  const echolab = [100, 50, 55, 64.9, 65, 80, 90].map((a, i) =>
    `echolab,cfg,regen,${DATA_GENERATOR},${i + 1},0.1,90,${a},0.5`
  );
  echolab.push(`echolab,cfg,regen,${DATA_GENERATOR},8,,,,0.5`); // diverged: no accuracy, a failure in the lowest plateau
  Deno.writeTextFileSync(`${dir}/echolab/cfg-regen-x.csv`, HEADER + echolab.join("\n") + "\n");
  Deno.writeTextFileSync(`${dir}/echolab/raw/log.csv`, "experiment,run_id,seed,phase\necho3,r,1,test\n");
  return dir;
}

Deno.test("parity summary from synthetic per-seed CSVs: counts, Wilson, Fisher, plateaus", () => {
  const dir = syntheticDir();
  try {
    const rows = readSeedRows(dir);
    assert.equal(rows.length, 6 + 8);
    assert.equal(rows.find((r) => r.side === "torch" && r.seed === 6)!.test_acc, 98.9);
    const s = summariseParity(rows, ["cfg"]);
    assert.deepEqual(s.map((x) => [x.side, x.mode, x.n, x.successes]), [["torch", "regen", 6, 2], [
      "echolab",
      "regen",
      8,
      1,
    ]]);
    assertClose([s[0].fisher_p, s[1].fisher_p], [fisherExact(2, 6, 1, 8), fisherExact(2, 6, 1, 8)], 1e-12);
    assertClose(
      [s[0].fisher_p],
      [0.5384615384615384],
      1e-9,
      "hand-computed: (C(3,0)C(11,6)+C(3,2)C(11,4)+C(3,3)C(11,3))/C(14,6)",
    );
    assert.deepEqual(s[0].bins, { "<55": 1, "55-65": 0, "65-80": 1, "80-90": 1, "90-99": 1, ">=99": 2 });
    assert.deepEqual(s[1].bins, { "<55": 2, "55-65": 2, "65-80": 1, "80-90": 1, "90-99": 1, ">=99": 1 });
    assertClose([s[0].ci_low, s[0].ci_high], [0.0968, 0.7000], 1e-4, "Wilson 2/6");
    const md = parityMarkdown(s);
    assert.match(md, /\| cfg \| regen \| 2\/6 \(10%-70%\), median 92\.0 \| 1\/8 \(2%-47%\), median 65\.0 \| 0\.538 \|/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parity helpers: plateau edges, shards, round-robin jobs, echolab rows", () => {
  assert.deepEqual([54.99, 55, 65, 80, 90, 98.99, 99, NaN].map(plateau), [
    "<55",
    "55-65",
    "65-80",
    "80-90",
    "90-99",
    "90-99",
    ">=99",
    "<55",
  ]);
  assert.deepEqual(shardSeeds(7, 2, 3), [2, 5]);
  assert.deepEqual([1, 2, 3].flatMap((i) => shardSeeds(7, i, 3)).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(splitRoundRobin([1, 2, 3], 2), [[1, 3], [2]]);
  assert.deepEqual(splitRoundRobin([1], 4), [[1]]);
  const log = "experiment,run_id,seed,phase,epoch,train_loss,train_acc,test_acc,status,seconds\n" +
    "e,r,1,train,1,0.6,60,,ok,2\ne,r,2,train,1,0.5,70,,ok,2\ne,r,1,train,2,0.1,99,,ok,2\ne,r,2,train,2,,,,diverged,2\n" +
    "e,r,1,test,2,,,99.5,ok,1\ne,r,2,test,2,,,,diverged,1\n";
  assert.deepEqual(echolabSeedRows(log, "cfg", "fixed"), [
    {
      side: "echolab",
      config: "cfg",
      mode: "fixed",
      data_generator: DATA_GENERATOR,
      seed: 1,
      train_loss: "0.1",
      train_acc: "99",
      test_acc: "99.5",
      seconds: "2.500",
    },
    {
      side: "echolab",
      config: "cfg",
      mode: "fixed",
      data_generator: DATA_GENERATOR,
      seed: 2,
      train_loss: "",
      train_acc: "",
      test_acc: "",
      seconds: "2.500",
    },
  ]);
});

const parity = (args: string[], out: string) => runDeno("experiments/parity.ts", args, out);

Deno.test("exp:parity --summary-only rebuilds the summary; bad flags exit 2 naming the flag, writing nothing", async () => {
  const dir = syntheticDir();
  try {
    const ok = await parity(["--summary-only", "--out", dir], dir);
    assert.equal(ok.code, 0, ok.stderr);
    const csv = Deno.readTextFileSync(`${dir}/summary.csv`).trim().split("\n");
    assert.equal(csv.length, 3);
    assert.match(csv[1], /^cfg,regen,torch,6,2,/);
    assert.match(Deno.readTextFileSync(`${dir}/summary.md`), /\| cfg \| regen \|/);
    const empty = Deno.makeTempDirSync({ prefix: "echolab-parity-" });
    for (
      const [args, flag] of [
        [["--bogus"], "bogus"],
        [["--shard", "3/2"], "--shard"],
        [["--shard", "x"], "--shard"],
        [["--jobs", "0"], "--jobs"],
        [["--max-seeds", "-1"], "--max-seeds"],
        [["--only", "echo3-rnn-h4,nope"], "--only"],
      ] as [string[], string][]
    ) {
      const r = await parity([...args, "--out", empty], empty);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.includes(flag), r.stderr);
      assert.deepEqual([...Deno.readDirSync(empty)], [], `${args.join(" ")} wrote something`);
    }
    Deno.removeSync(empty, { recursive: true });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("exp:parity never deletes or rewrites the published summary; a run that differs writes its own", async () => {
  const dir = syntheticDir();
  try {
    const published = [`${dir}/summary.csv`, `${dir}/summary.md`];
    const first = await parity(["--summary-only", "--out", dir], dir);
    assert.equal(first.code, 0, first.stderr);
    const state = () => published.map((p) => [Deno.readTextFileSync(p), Deno.statSync(p).ino, Deno.statSync(p).mtime]);
    const before = state();
    const own = () => [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("summary-")).sort();

    const same = await parity(["--summary-only", "--out", dir], dir);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /summary unchanged: .*nothing written/);
    assert.deepEqual(own(), [], "an unchanged summary writes nothing");

    Deno.writeTextFileSync(
      `${dir}/torch/cfg-regen-more.csv`,
      HEADER + "torch,cfg,regen,numpy-mt19937,7,0.1,90,100,4.5\n",
    );
    const more = await parity(["--summary-only", "--out", dir], dir);
    assert.equal(more.code, 0, more.stderr);
    assert.deepEqual(state(), before, "the published summary.csv and summary.md are untouched");
    const [csv, md] = own();
    assert.match(csv, /^summary-\d{8}-\d{6}-\w{4}\.csv$/);
    assert.equal(md, csv.replace(/\.csv$/, ".md"));
    assert.ok(more.stdout.includes(`${dir}/${csv}`), more.stdout);
    const mine = Deno.readTextFileSync(`${dir}/${csv}`);
    assert.match(mine, /^cfg,regen,torch,7,3,/m, "this run's summary counts the new seed");

    // Its own summary is not read back as per-seed rows: the next run summarises the same seeds.
    const again = await parity(["--summary-only", "--out", dir], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(own().length, 4);
    assert.equal(Deno.readTextFileSync(`${dir}/${own().find((n) => n.endsWith(".csv") && n !== csv)}`), mine);
    assert.deepEqual(state(), before);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
