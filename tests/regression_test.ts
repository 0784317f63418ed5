/**
 * Accuracy bands from real training runs of the experiment scripts with fixed
 * seeds, on the wasm backend (the one `auto` picks here). Seeds were chosen by running them: with seed 5
 * the notebook's echo-3 model learns the task in 5 epochs; with seed 1 it
 * does not (it stalls near 85%), which is the notebook's "depends on the
 * initialisation" remark. Full-length runs of the wider models are behind
 * `deno task test:slow` (ECHOLAB_SLOW=1).
 */
import { assert } from "./_assert.ts";
import { runScript } from "./_run.ts";

const slow = Deno.env.get("ECHOLAB_SLOW") === "1";
const testAcc = (rows: Record<string, string>[], seed: number) =>
  Number(rows.find((r) => r.phase === "test" && r.seed === String(seed))!.test_acc);

Deno.test("echo3 / H4, 5 epochs: seed 5 reaches >= 99% test accuracy, seed 1 does not", async () => {
  const r = await runScript("echo3", ["--seeds", "1,5", "--backend", "wasm"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(testAcc(r.rows, 5) >= 99, `seed 5: ${testAcc(r.rows, 5)}%`);
  assert.ok(testAcc(r.rows, 1) < 99, `seed 1: ${testAcc(r.rows, 1)}%`);
  assert.match(r.stdout, /^success rate: 1\/2 seeds reached >= 99% test accuracy$/m);
  const check = r.rows.find((x) => x.phase === "test" && x.seed === "5")!;
  assert.ok(Number(check.echo_correct) >= 95, `seed 5 echoed ${check.echo_correct}/97 digits`);
});

Deno.test("echo10 / H4, 20 epochs: the notebook's failure, test accuracy <= 65% for seeds 1 and 2", async () => {
  const r = await runScript("echo10-h4", ["--seeds", "1,2", "--backend", "wasm"]);
  assert.equal(r.code, 0, r.stderr);
  for (const seed of [1, 2]) assert.ok(testAcc(r.rows, seed) <= 65, `seed ${seed}: ${testAcc(r.rows, seed)}%`);
  assert.equal(r.rows.filter((x) => x.phase === "train").length, 40);
});

Deno.test({
  name: "slow: echo10 / H60, 20 epochs: seed 2 learns the task, seed 1 does not (the notebook's coin toss)",
  ignore: !slow,
  fn: async () => {
    const r = await runScript("echo10-h60", ["--seeds", "1,2", "--backend", "wasm"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.rows.filter((x) => x.phase === "train").length, 40);
    assert.ok(testAcc(r.rows, 2) >= 99, `seed 2: ${testAcc(r.rows, 2)}%`);
    assert.ok(testAcc(r.rows, 1) <= 65, `seed 1: ${testAcc(r.rows, 1)}%`);
  },
});

Deno.test("LSTM H60 at echo 10: seed 1 reaches >= 99% test accuracy in 5 epochs (where the RNN is a coin toss)", async () => {
  const r = await runScript("echo10-h60", ["--cell", "lstm", "--seeds", "1", "--epochs", "5", "--backend", "wasm"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(testAcc(r.rows, 1) >= 99, `seed 1: ${testAcc(r.rows, 1)}%`);
});
