/**
 * Every failure ends cleanly (issue #8): bad input prints one line naming the
 * flag or the file (and line) and exits 2 with nothing written or deleted; a
 * failure while running prints one line and exits non-zero; no stack trace.
 * Each case runs a script as a user would, in a subprocess, one at a time,
 * with tiny sizes.
 */
import { DATA_GENERATOR } from "../../lib/echo_bits.ts";
import { assert } from "../_assert.ts";
import { listing, oneLine, refusesWrites, runDeno, runScript } from "../_run.ts";
import { SHARD_COLUMNS, shardFileName } from "../../lib/capacity.ts";
import { CsvLog } from "../../lib/csv_log.ts";
import { estimateMemory, parameterCount } from "../../lib/cli.ts";
import { CELLS, SimpleRNN } from "../../lib/models.ts";
import { tf } from "../../lib/tf.ts";

const run = runDeno;

/**
 * Makes `dir` read-only: chmod 555, or as root (whom modes do not stop)
 * `chattr +i` where this run may start chattr. False when neither works.
 */
async function makeReadOnly(dir: string): Promise<boolean> {
  Deno.chmodSync(dir, 0o555);
  if (refusesWrites(dir)) return true;
  try {
    await new Deno.Command("chattr", { args: ["+i", dir], stderr: "null" }).output();
  } catch { /* chattr missing or not allowed (deno test --allow-run=deno,chattr runs this case as root) */ }
  return refusesWrites(dir);
}

async function makeWritable(dir: string): Promise<void> {
  try {
    await new Deno.Command("chattr", { args: ["-i", dir], stderr: "null" }).output();
  } catch { /* was not made immutable */ }
  Deno.chmodSync(dir, 0o755);
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "echolab-fail-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Shard CSVs of a 2-point grid split 3 ways as exp:capacity writes them: shard 3 holds only the header. */
function writeShards(dir: string, which = [1, 2, 3]): string[] {
  const points = [{ echo: 1 }, { echo: 2 }];
  return which.map((i) => {
    const path = `${dir}/${shardFileName(i, 3, "abcd1234", 2, `20261130-000000-aaa${i}`)}`;
    const mine = points.filter((_, k) => k % 3 === i - 1);
    CsvLog.create(path, SHARD_COLUMNS).append(...mine.map((p) => ({
      grid_id: "abcd1234",
      data_generator: DATA_GENERATOR,
      shard: i,
      shards: 3,
      points: mine.length,
      cell: "rnn",
      hidden: 4,
      echo_step: p.echo,
      seeds: 10,
      successes: 6,
      test_acc_median: 99.5,
      epochs: 5,
      bptt: 50,
      seconds: 12.5,
    })));
    return path;
  });
}

Deno.test("the memory estimate counts parameters as the model does", async () => {
  await tf.setBackend("cpu");
  for (const cell of CELLS) {
    for (const layers of [1, 2]) {
      const m = new SimpleRNN({ cell, hidden: 3, layers, seeds: [1] });
      assert.equal(parameterCount(cell, 3, layers), m.parameterCount, `${cell} x${layers}`);
      m.dispose();
    }
  }
  const e = estimateMemory({
    seeds: 2,
    batch: 5,
    series: 100,
    bptt: 20,
    hidden: 4,
    layers: 1,
    cell: "rnn",
    optimizer: "rmsprop",
  });
  assert.equal(e.data, 2 * 5 * 100 * 2 * 2);
  assert.equal(e.parameters, 2 * 33 * 4 * 3);
});

Deno.test("sizes that would eat memory are refused before anything is allocated or written", async () => {
  const cases: [string[], RegExp][] = [
    [["--series", "10000000", "--batch", "1000", "--epochs", "1"], /--batch 1000 x --series 10000000\).*--max-memory/],
    [["--hidden", "4096", "--seeds", "64", "--epochs", "1", "--series", "200"], /--seeds 64 x --hidden 4096/],
    [
      ["--hidden", "4096", "--seeds", "4096"],
      /^error: this run needs about \d+\.\d GiB .*--seeds 4096 x --hidden 4096/,
    ],
    [["--seeds", "2", "--series", "200", "--max-memory", "0.000001"], /over the --max-memory budget of 0\.000001 GiB/],
  ];
  for (const [args, re] of cases) {
    const r = await runScript("echo3", args);
    oneLine(r, 2, re, args.join(" "));
    assert.deepEqual(r.files, [], `${args.join(" ")} wrote ${r.files}`);
  }
  const cap = await runScript("capacity", ["--hiddens", "4096", "--seeds", "4096"]);
  oneLine(cap, 2, /--seeds 4096 x --group 40 = 163840 x --hiddens 4096/, "capacity --hiddens 4096 --seeds 4096");
});

Deno.test("flags: repeated, duplicate lists, unbounded shards, echo steps the check or probe cannot read", async () => {
  const cases: [string, string[], RegExp][] = [
    ["echo3", ["--seed", "1", "--seed", "2"], /^error: --seed given twice$/],
    ["echo3", ["--hidden=4", "--hidden", "8"], /^error: --hidden given twice$/],
    ["echo3", ["--series", "200", "--echo-step", "200"], /^error: --echo-step must be an integer in 1\.\.199/],
    ["memory", ["--epochs", "1", "--epochs", "2"], /^error: --epochs given twice$/],
    ["memory", ["--only", "rnn-h4,rnn-h4"], /^error: --only must list distinct names, got "rnn-h4,rnn-h4"$/],
    ["capacity", ["--cells", "rnn,rnn"], /^error: --cells must list distinct values, got "rnn,rnn"$/],
    ["capacity", ["--hiddens", "4,4"], /^error: --hiddens must list distinct values, got "4,4"$/],
    [
      "capacity",
      ["--shard", "99999999999999999999/99999999999999999999"],
      /^error: --shard must be i\/n with 1 <= i <= n <= 10000, got "99999999999999999999\/99999999999999999999"$/,
    ],
    ["capacity", ["--shard", "1/10001"], /^error: --shard must be i\/n with 1 <= i <= n <= 10000/],
    ["gradients", ["--echo-step", "50"], /^error: --echo-step must be an integer in 1\.\.40 for exp:gradients/],
  ];
  for (const [script, args, re] of cases) {
    const r = await runScript(script, args);
    oneLine(r, 2, re, `${script} ${args.join(" ")}`);
    assert.deepEqual(r.files, []);
  }
});

Deno.test("a forced backend that cannot load: one line, exit 2, nothing written", async () => {
  for (const script of ["capacity", "gradients", "echo3"]) {
    const r = await runScript(script, ["--backend", "node", "--seeds", "1", "--epochs", "1", "--series", "400"]);
    oneLine(r, 2, /^error: --backend node could not be loaded: .*\(see README, Backends\)$/, script);
    assert.deepEqual(r.files, [], `${script} wrote ${r.files}`);
  }
});

Deno.test("--help prints usage and does nothing else (bench, merge)", async () => {
  await withTemp(async (dir) => {
    // bench would need --allow-run to start: exit 0 here means it printed and stopped.
    const bench = await run("bench/bench.ts", ["--help"], dir);
    assert.equal(bench.code, 0, bench.stderr);
    assert.match(bench.stdout, /^usage: deno task bench/m);
    assert.equal(bench.stderr, "");
    oneLine(await run("bench/bench.ts", ["--fast"], dir), 2, /^error: .*--fast/, "bench --fast");
    const merge = await run("experiments/merge.ts", ["--help"], dir);
    assert.equal(merge.code, 0, merge.stderr);
    assert.match(merge.stdout, /^usage: deno task merge SHARD\.csv\.\.\. \[--out FILE\] \[--force\]$/m);
    assert.deepEqual(listing(dir), []);
  });
});

Deno.test("merge: --out is a file, written once; an existing one is kept unless --force; never a folder", async () => {
  await withTemp(async (dir) => {
    const shards = writeShards(`${dir}/s`);
    const out = `${dir}/out/capacity.csv`;
    const first = await run("experiments/merge.ts", [...shards, "--out", out], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /merged 3 shard\(s\), 2 grid points ->/);
    assert.equal(Deno.readTextFileSync(out).trim().split("\n").length, 3);

    // The same rows again (as on a fresh clone, where capacity.csv is committed): nothing to do, exit 0.
    const again = await run("experiments/merge.ts", [...shards, "--out", out], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already holds these 2 grid points; nothing written/);

    Deno.writeTextFileSync(out, "someone else's\n");
    oneLine(
      await run("experiments/merge.ts", [...shards, "--out", out], dir),
      2,
      /^error: --out .*capacity\.csv exists and holds other rows; pass --force to replace it/,
      "merge over another file",
    );
    assert.equal(Deno.readTextFileSync(out), "someone else's\n");
    const forced = await run("experiments/merge.ts", [...shards, "--out", out, "--force"], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(Deno.readTextFileSync(out).trim().split("\n").length, 3);

    Deno.mkdirSync(`${dir}/full`);
    Deno.writeTextFileSync(`${dir}/full/keep`, "x");
    Deno.mkdirSync(`${dir}/empty`);
    for (const folder of ["full", "empty"]) {
      const r = await run("experiments/merge.ts", [...shards, "--out", `${dir}/${folder}`], dir);
      oneLine(r, 2, /^error: --out .* is a directory; it must name a file$/, `--out ${folder}/`);
    }
    assert.equal(Deno.readTextFileSync(`${dir}/full/keep`), "x");
    assert.ok(Deno.statSync(`${dir}/empty`).isDirectory, "merge deleted a folder");
    assert.deepEqual(listing(dir).filter((f) => f.endsWith(".tmp")), []);
  });
});

Deno.test("merge: bad shard files name the file (and line), exit 2, nothing written", async () => {
  await withTemp(async (dir) => {
    const [s1, s2, s3] = writeShards(dir);
    const good = Deno.readTextFileSync(s1);
    const bad = (name: string, text: string | Uint8Array) => {
      const path = `${dir}/bad/${name}`;
      Deno.mkdirSync(`${dir}/bad`, { recursive: true });
      if (typeof text === "string") Deno.writeTextFileSync(path, text);
      else Deno.writeFileSync(path, text);
      return path;
    };
    const [header, row] = good.trim().split("\n");
    const cases: [string, RegExp][] = [
      [bad("png.csv", Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe])), /png\.csv/],
      [bad("other.csv", "a,b\n1,2\n"), /other\.csv:1: not a capacity shard CSV/],
      [
        bad("midline.csv", `${header}\n${row.slice(0, 20)}\n${row}\n`),
        new RegExp(`midline\\.csv:2: \\d+ fields, expected ${SHARD_COLUMNS.length}`),
      ],
      [bad("lastcut.csv", good.slice(0, -3)), /lastcut\.csv:2: the last row is cut short/],
      [bad("type.csv", `${header}\n${row.replace(",99.5,", ",9x,")}\n`), /type\.csv:2: test_acc_median must be/],
      [bad("range.csv", `${header}\n${row.replace(",6,99.5,", ",11,99.5,")}\n`), /range\.csv:2: successes must be/],
      [`${dir}/bad`, /bad is a directory, not a shard CSV$/],
      [`${dir}/nothere.csv`, /nothere\.csv/],
    ];
    for (const [file, re] of cases) {
      const r = await run("experiments/merge.ts", [file, s2, s3, "--out", `${dir}/merged.csv`], dir);
      oneLine(r, 2, re, file);
      assert.throws(() => Deno.statSync(`${dir}/merged.csv`));
    }
  });
});

Deno.test("capacity: a shard with no grid points is a header-only CSV that merge requires", async () => {
  await withTemp(async (dir) => {
    const grid = ["--cells", "rnn", "--hiddens", "2", "--echo-max", "2", "--seeds", "1", "--epochs", "1"]
      .concat(["--series", "20", "--bptt", "10", "--backend", "cpu", "--out", `${dir}/shards`]);
    for (const i of [1, 2, 3]) {
      const r = await run("experiments/capacity.ts", ["--shard", `${i}/3`, ...grid], dir);
      assert.equal(r.code, 0, r.stderr);
    }
    const files = listing(`${dir}/shards`).map((f) => `${dir}/shards/${f}`);
    assert.equal(files.length, 3);
    const empty = files.find((f) => /shard-3-of-3-grid-[0-9a-f]{8}-2pts-/.test(f))!;
    assert.equal(Deno.readTextFileSync(empty), SHARD_COLUMNS.join(",") + "\n");

    const missing = await run("experiments/merge.ts", [files[0], files[1], "--out", `${dir}/m.csv`], dir);
    oneLine(missing, 2, /^error: missing shard\(s\) 3 of 3$/, "without the empty shard");
    const ok = await run("experiments/merge.ts", [...files, "--out", `${dir}/m.csv`], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(Deno.readTextFileSync(`${dir}/m.csv`).trim().split("\n").length, 3);

    // A header-only file whose name does not say its grid (an unfinished shard) is refused.
    Deno.copyFileSync(empty, `${dir}/shard-3-of-3-20261130-000000-zzzz.csv`);
    const unnamed = await run(
      "experiments/merge.ts",
      [files[0], files[1], `${dir}/shard-3-of-3-20261130-000000-zzzz.csv`, "--out", `${dir}/n.csv`],
      dir,
    );
    oneLine(unnamed, 2, /zzzz\.csv holds no rows, and its name does not say/, "unnamed empty shard");
  });
});

Deno.test("exp:memory: what its children would refuse is refused up front, writing nothing; --summary-only", async () => {
  await withTemp(async (dir) => {
    // A backend that cannot load, and a config over the memory budget: one line, exit 2, no child started.
    // (A child that dies while running is named with exit 1: tests/experiments/sweep_test.ts.)
    for (
      const [args, re] of [
        [["--only", "rnn-h4", "--backend", "node"], /^error: --backend node could not be loaded/],
        [["--seeds", "4096", "--only", "rnn-6x60"], /^error: config rnn-6x60: this run needs about/],
      ] as const
    ) {
      const r = await run("experiments/memory.ts", ["--epochs", "1", ...args, "--out", dir], dir, [
        "--allow-run=deno",
      ]);
      oneLine(r, 2, re, `memory ${args.join(" ")}`);
      assert.deepEqual(listing(dir), []);
    }

    const none = await run("experiments/memory.ts", ["--summary-only", "--out", `${dir}/nothere`], dir);
    oneLine(none, 2, /^error: --out .*nothere is not a directory of runs to summarise$/, "summary-only nothere");
    const empty = await run("experiments/memory.ts", ["--summary-only", "--out", dir], dir);
    oneLine(empty, 2, /^error: --out .* holds no experiment CSVs to summarise$/, "summary-only empty");
  });
});

Deno.test("exp:memory: a sweep writes its own summary file and never the published summary.csv", async () => {
  await withTemp(async (dir) => {
    Deno.writeTextFileSync(`${dir}/summary.csv`, "published\n");
    const args = ["--only", "rnn-h4", "--seeds", "1", "--epochs", "1", "--jobs", "1", "--out", dir];
    const r = await run("experiments/memory.ts", args, dir, ["--allow-run=deno"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Deno.readTextFileSync(`${dir}/summary.csv`), "published\n");
    const mine = listing(dir).filter((f) => /^sweep-\d{8}-\d{6}-[a-z0-9]{4}-summary\.(csv|md)$/.test(f));
    assert.equal(mine.length, 2, listing(dir).join(", "));
  });
});

Deno.test("--out that the OS refuses: one line naming the flag, exit 2, no preview printed", async () => {
  await withTemp(async (dir) => {
    const long = `${dir}/${"a".repeat(300)}`;
    const r = await run("experiments/data.ts", ["--out", long], dir);
    oneLine(r, 2, /^error: --out .*: the name "a+\.\.\.a+" is over 255 bytes$/, "300-character folder");
    assert.equal(r.stdout, "");

    Deno.mkdirSync(`${dir}/ro`);
    if (!(await makeReadOnly(`${dir}/ro`))) {
      console.log("read-only --out cases skipped: running as root without chattr (--allow-run=deno,chattr)");
      return;
    }
    try {
      for (const [script, out] of [["data", `${dir}/ro`], ["echo3", `${dir}/ro/sub`], ["capacity", `${dir}/ro`]]) {
        const ro = await run(`experiments/${script}.ts`, ["--out", out, "--series", "400"], dir);
        oneLine(ro, 2, /^error: --out .*ro(\/sub)? is not writable: /, `${script} into a read-only folder`);
        assert.equal(ro.stdout, "", `${script} printed before failing`);
      }
      const merge = await run("experiments/merge.ts", [...writeShards(dir), "--out", `${dir}/ro/c.csv`], dir);
      oneLine(merge, 2, /^error: --out .*ro\/c\.csv is not writable: /, "merge into a read-only folder");
    } finally {
      await makeWritable(`${dir}/ro`);
    }
  });
});

Deno.test("echo check: a long echo is checked on a longer sequence; diverged replicas print no check", async () => {
  const long = await runScript("echo3", [
    "--echo-step",
    "199",
    "--series",
    "2000",
    "--epochs",
    "1",
    "--backend",
    "cpu",
  ]);
  assert.equal(long.code, 0, long.stderr);
  assert.match(long.stdout, /^Number of correct echoing digits from the 199 : \d+$/m);
  assert.ok(!/from the -/.test(long.stdout));

  const args = ["--seeds", "5,6", "--lr", "10", "--cell", "irnn", "--identity-scale", "10", "--series", "200"]
    .concat(["--epochs", "1", "--backend", "cpu"]);
  const r = await runScript("echo3", args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[seed 6\] Test accuracy: diverged$/m, "seed 6 should diverge at lr 10");
  assert.ok(!/^\[seed 6\] Number of correct echoing digits/m.test(r.stdout), r.stdout);
  assert.match(r.stdout, /^\[seed 5\] Number of correct echoing digits from the 97 : \d+$/m);
});
