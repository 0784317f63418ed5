/**
 * Every published number is regenerated from data: `deno task report` run
 * into a temporary folder must reproduce, byte for byte, the committed
 * README.md, results/README.md, results/memory/summary.* and every chart.
 * A stale claim, a hand-edited number or a CSV changed without rerunning the
 * report fails here.
 */
import { assert } from "./_assert.ts";
import { runDeno } from "./_run.ts";
import { fillTemplate, replaceBlocks, TemplateError } from "../lib/template.ts";

const ROOT = new URL("../", import.meta.url).pathname;

const report = (args: string[], out: string) => runDeno("experiments/report.ts", args, out);

function walk(dir: string, prefix = ""): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? walk(`${dir}/${e.name}`, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]
  );
}

Deno.test("deno task report reproduces every committed published file from the manifest's CSVs", async () => {
  const out = await Deno.makeTempDir({ prefix: "echolab-report-" });
  try {
    const r = await report(["--out", out], out);
    assert.equal(r.code, 0, r.stderr);
    const made = walk(out).sort();
    for (
      const want of ["README.md", "results/README.md", "results/memory/summary.csv", "results/charts/capacity.svg"]
    ) {
      assert.ok(made.includes(want), `report did not write ${want}`);
    }
    for (const f of made) {
      const a = Deno.readFileSync(`${out}/${f}`), b = Deno.readFileSync(`${ROOT}${f}`);
      assert.ok(
        a.length === b.length && a.every((x, i) => x === b[i]),
        `${f} differs from what deno task report generates: run deno task report and commit`,
      );
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("report --help prints usage and writes nothing; a bad flag or manifest is one line, exit 2", async () => {
  const out = await Deno.makeTempDir({ prefix: "echolab-report-" });
  try {
    const help = await report(["--help", "--out", out], out);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: deno task report/);
    const bad = await report(["--frobnicate"], out);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    const missing = await report(["--out", out, "--manifest", `${out}/nothere.json`], out);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: --manifest .*nothere\.json/);
    assert.deepEqual(walk(out), [], "nothing written");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("templates: a field nobody computed and a block nothing generates are errors", () => {
  assert.equal(fillTemplate("{{k}}/{{ n }} seeds", { k: 5, n: "20" }), "5/20 seeds");
  assert.throws(() => fillTemplate("{{k}} of {{missing}}", { k: 1 }), TemplateError);
  const text = "a\n<!-- generated:x -->\nold\nlines\n<!-- /generated:x -->\nb";
  assert.equal(replaceBlocks(text, { x: "new" }), "a\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nb");
  assert.throws(() => replaceBlocks(text, {}), TemplateError);
  assert.throws(() => replaceBlocks(text, { x: "new", y: "lost" }), TemplateError);
});
