import { assert } from "./_assert.ts";
import { runScript, type ScriptRun } from "./_run.ts";

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
    cwd: new URL("../", import.meta.url).pathname,
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
    args: ["run", "--allow-read", `--allow-write=${out}`, "experiments/echo3.ts", "--epochs", "1000", "--series", "200"]
      .concat(["--backend", "wasm", "--out", out]),
    cwd: new URL("../", import.meta.url).pathname,
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
  const root = new URL("../", import.meta.url).pathname;
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
