/**
 * The README's cluster recipe, run for real on this machine: GNU parallel
 * (`-S :` is the local host) runs `deno task exp:capacity --shard {}/2` for
 * both shards of a tiny grid, `deno task merge` combines them, and the merged
 * map must equal the unsharded run's.
 */
import { parse } from "csv-parse/sync";
import { assert } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TINY = "--cells rnn,gru --hiddens 2 --echo-max 2 --seeds 2 --epochs 1 --series 200 --bptt 20 --backend wasm";

async function sh(cmd: string) {
  const r = await new Deno.Command("bash", { args: ["-c", cmd], cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const hasParallel = (await sh("command -v parallel")).code === 0;
if (!hasParallel) console.log("cluster_test: GNU parallel is not installed (apt-get install parallel); skipped");

Deno.test({
  name: "README cluster recipe: GNU parallel runs the capacity shards, merge combines them into the unsharded map",
  ignore: !hasParallel,
  fn: async () => {
    const dir = `results/.cluster-test-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const sharded = await sh(
        `parallel --will-cite -S : 'cd ${ROOT} && deno task exp:capacity --shard {}/2 ${TINY} --out ${dir}/shards' ::: 1 2`,
      );
      assert.equal(sharded.code, 0, sharded.err);
      const merged = await sh(`deno task merge ${dir}/shards/shard-*.csv --out ${dir}/merged.csv`);
      assert.equal(merged.code, 0, merged.err);
      const whole = await sh(`deno task exp:capacity --shard 1/1 ${TINY} --out ${dir}/whole`);
      assert.equal(whole.code, 0, whole.err);
      const key = (rows: Record<string, string>[]) =>
        rows.map((r) => [r.cell, r.hidden, r.echo_step, r.successes, r.test_acc_median].join(" ")).sort();
      const read = (p: string) =>
        parse(Deno.readTextFileSync(`${ROOT}${p}`), { columns: true }) as Record<string, string>[];
      const wholeFile = [...Deno.readDirSync(`${ROOT}${dir}/whole`)][0].name;
      const a = key(read(`${dir}/merged.csv`)), b = key(read(`${dir}/whole/${wholeFile}`));
      assert.equal(a.length, 4, "2 cells x 1 size x 2 echo steps");
      assert.deepEqual(a, b);
    } finally {
      await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
    }
  },
});
