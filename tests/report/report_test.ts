/**
 * Every published number is regenerated from data: `deno task report` run
 * into a temporary folder must reproduce, byte for byte, the committed
 * README.md, results/README.md, results/memory/summary.* and every chart.
 * A stale claim, a hand-edited number or a CSV changed without rerunning the
 * report fails here.
 */
import { assert } from "../_assert.ts";
import { runDeno } from "../_run.ts";
import { fillTemplate, replaceBlocks, TemplateError } from "../../lib/template.ts";
import { ReportError } from "../../lib/report/error.ts";
import { gradientsReport } from "../../lib/report/gradients.ts";
import { parityReport } from "../../lib/report/parity.ts";
import { mergeFields } from "../../lib/report/render.ts";
import type { Row } from "../../lib/summary.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

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

/** A row of exp:parity's summary.csv with two accuracy bins: `successes` of 10 at or above 99%, the rest below 55. */
const parityRow = (mode: string, side: string, successes: number, fisherP: string): Row => ({
  config: "echo10-rnn-h60",
  mode,
  side,
  n: "10",
  successes: String(successes),
  rate: String(successes / 10),
  ci_low: "0.25",
  ci_high: "0.75",
  fisher_p: fisherP,
  test_acc_median: "75.5",
  "acc_<55": String(10 - successes),
  "acc_>=99": String(successes),
});

Deno.test("parity section: fields and table from hand-built summary rows, and they follow the rows", () => {
  const rows = [
    parityRow("regen", "torch", 3, "0.6"),
    parityRow("regen", "echolab", 4, "0.6"),
    parityRow("fixed", "torch", 6, "0.35"),
    parityRow("fixed", "echolab", 7, "0.35"),
  ];
  const { fields, markdown } = parityReport(rows, "p/summary.csv");
  assert.equal(fields["parity.echo10-rnn-h60.regen.torch"], "3/10");
  assert.equal(fields["parity.echo10-rnn-h60.fixed.echolab"], "7/10");
  assert.equal(fields["parity.echo10-rnn-h60.regen.echolab.ci"], "25-75%");
  assert.equal(fields["parity.echo10-rnn-h60.fixed.torch.median"], "75.5%");
  assert.equal(fields["parity.echo10-rnn-h60.fixed.p"], "0.35");
  assert.match(String(fields["parity.verdict"]), /^No configuration .* every Fisher p is at least 0\.35\.$/);
  assert.match(String(fields["parity.h60.fixedEffect"]), /^learns more often with one fixed series/);
  assert.ok(
    markdown.includes(
      "| echo10-rnn-h60 | regen | 3/10 (25-75%) | 4/10 (25-75%) | 0.60 | 75.5 / 75.5 | 7 / 3 | 6 / 4 |",
    ),
    markdown,
  );

  // Fewer echolab successes with the fixed series: the sides no longer agree on its effect.
  const fewer = parityReport(rows.with(3, parityRow("fixed", "echolab", 2, "0.35")), "p/summary.csv").fields;
  assert.equal(fewer["parity.echo10-rnn-h60.fixed.echolab"], "2/10");
  assert.match(String(fewer["parity.h60.fixedEffect"]), /^does not change its success rate the same way/);
  // A significant difference turns the verdict.
  const differ = parityReport(rows.with(0, parityRow("regen", "torch", 3, "0.01")), "p/summary.csv").fields;
  assert.match(String(differ["parity.verdict"]), /^Some configurations .* \(smallest Fisher p 0\.01\)/);
  // A side missing is a refusal naming the file, not a table with a hole.
  assert.throws(
    () => parityReport(rows.slice(0, 3), "p/summary.csv"),
    (e) => e instanceof ReportError && /^p\/summary\.csv: no echolab row for echo10-rnn-h60 \(fixed\)$/.test(e.message),
  );
});

/**
 * exp:gradients rows for two seeds of `cell` at lags 0..20: at init the gradient halves with every
 * step back (seed 2's three times seed 1's), trained it peaks at lag `peak`; `accs` are each seed's test accuracy.
 */
function gradientRows(cell: string, peak: number, accs: [number, number]): Row[] {
  return [1, 2].flatMap((seed) =>
    ["init", "trained"].flatMap((phase) =>
      Array.from({ length: 21 }, (_, lag) => ({
        cell,
        seed: String(seed),
        phase,
        lag: String(lag),
        hidden: "60",
        echo_step: "10",
        epochs_trained: phase === "init" ? "0" : "30",
        test_acc: phase === "init" ? "" : String(accs[seed - 1]),
        mean_abs_grad: String(
          (seed === 1 ? 1 : 3) * (phase === "init" ? 0.01 * 0.5 ** lag : lag === peak ? 0.02 : 0.001),
        ),
      }))
    )
  );
}

Deno.test("gradients section: means over seeds, fold-changes, peaks and the cells that learnt, from hand-built rows", () => {
  const rows = [...gradientRows("rnn", 1, [50, 100]), ...gradientRows("lstm", 10, [100, 99.5])];
  const { fields, markdown } = gradientsReport(rows);
  assert.equal(fields["grad.rnn.init.0"], "2.0e-2"); // mean of 0.01 and 0.03
  assert.equal(fields["grad.rnn.init.10"], (0.02 * 0.5 ** 10).toExponential(1));
  assert.equal(fields["grad.rnn.fold10"], "1,000"); // 2^10, two significant digits
  assert.equal(fields["grad.rnn.fold20"], "10^6"); // 2^20
  assert.equal(fields["grad.rnn.foldMax"], "1048576.0");
  assert.equal(fields["grad.rnn.peak"], 1);
  assert.equal(fields["grad.lstm.peak"], 10);
  assert.equal(fields["grad.rnn.acc"], "50.0%, 100.0%");
  assert.equal(fields["grad.learnt"], "LSTM");
  assert.equal(fields["grad.learntPeaks"], "10");
  assert.equal(fields["grad.seeds"], 2);
  assert.equal(fields["grad.maxLag"], 20);
  assert.equal(fields["grad.epochs"], "30");
  assert.ok(
    markdown.includes("| rnn | 2.0e-2 | 2.0e-5 | 1.9e-8 | 2.0e-3 | 2.0e-3 | 2.0e-3 | 50.0%, 100.0% |"),
    markdown,
  );

  // The RNN's second seed learning too puts it among the cells that learnt.
  const both = gradientsReport([...gradientRows("rnn", 1, [100, 100]), ...gradientRows("lstm", 10, [100, 99.5])]);
  assert.equal(both.fields["grad.learnt"], "RNN and LSTM");
  assert.equal(both.fields["grad.learntPeaks"], "1, 10");
  // One row changed moves its mean and nothing else.
  const changed = rows.map((r) =>
    r.cell === "rnn" && r.seed === "2" && r.phase === "init" && r.lag === "0" ? { ...r, mean_abs_grad: "0.05" } : r
  );
  const moved = gradientsReport(changed).fields;
  assert.equal(moved["grad.rnn.init.0"], "3.0e-2");
  assert.equal(moved["grad.rnn.init.10"], fields["grad.rnn.init.10"]);
  assert.equal(moved["grad.lstm.init.0"], fields["grad.lstm.init.0"]);
});

Deno.test("report: two sections filling one template field is an error, not a silent overwrite", () => {
  assert.deepEqual(mergeFields({ a: 1 }, { b: "x" }), { a: 1, b: "x" });
  assert.throws(() => mergeFields({ a: 1 }, { a: 2 }), /\{\{a\}\}/);
});
