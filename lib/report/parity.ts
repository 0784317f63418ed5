/**
 * exp:parity in the findings: the notebook's PyTorch code and echolab on the
 * same configurations, from its summary.csv. Its table, section and the
 * template fields `parity.*`. Not for computing the summary (lib/parity.ts)
 * or for the README's experiments table, which quotes a few of its rows
 * (notebook.ts).
 */
import type { Row } from "../summary.ts";
import { ReportError } from "./error.ts";
import { f1, f2, type Fields, pct0 } from "./format.ts";

/** exp:parity, summarised. */
export interface ParityReport {
  fields: Fields;
  /** Its section of results/README.md. */
  markdown: string;
}

/**
 * The summary row of `config` in `mode` on `side` (torch or echolab), or a
 * {@linkcode ReportError} naming `where` (the summary CSV) when there is none.
 */
export function parityRow(rows: Row[], config: string, mode: string, side: string, where: string): Row {
  const r = rows.find((p) => p.config === config && p.mode === mode && p.side === side);
  if (!r) throw new ReportError(`${where}: no ${side} row for ${config} (${mode})`);
  return r;
}

/**
 * exp:parity from its summary.csv's rows (`where`: that file, named in a
 * refusal): each side's success count, Wilson interval and median test
 * accuracy per configuration and data mode, the Fisher p of each, whether
 * any differs at the 5% level, and what a fixed series does to the RNN H60.
 */
export function parityReport(rows: Row[], where: string): ParityReport {
  const par = (config: string, mode: string, side: string) => parityRow(rows, config, mode, side, where);
  const configs = [...new Set(rows.map((p) => p.config))];
  const modes = [...new Set(rows.map((p) => p.mode))];
  const bins = Object.keys(rows[0]).filter((k) => k.startsWith("acc_"));
  const rate = (r: Row) => `${r.successes}/${r.n} (${pct0(Number(r.ci_low))}-${pct0(Number(r.ci_high))}%)`;
  const table =
    `| config | data | PyTorch: success (95% CI) | echolab: success (95% CI) | Fisher p | median test acc: PyTorch / echolab | final test accuracy, PyTorch: ${
      bins.map((b) => b.slice(4)).join(" / ")
    } | the same for echolab |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n` +
    configs.flatMap((c) =>
      modes.map((m) => {
        const t = par(c, m, "torch"), e = par(c, m, "echolab");
        return `| ${c} | ${m} | ${rate(t)} | ${rate(e)} | ${f2(Number(e.fisher_p || t.fisher_p))} | ${
          f1(Number(t.test_acc_median))
        } / ${f1(Number(e.test_acc_median))} | ${bins.map((b) => t[b]).join(" / ")} | ${
          bins.map((b) => e[b]).join(" / ")
        } |`;
      })
    ).join("\n");
  const fields: Fields = {};
  for (const c of configs) {
    for (const m of modes) {
      for (const side of ["torch", "echolab"]) {
        const r = par(c, m, side);
        fields[`parity.${c}.${m}.${side}`] = `${r.successes}/${r.n}`;
        fields[`parity.${c}.${m}.${side}.ci`] = `${pct0(Number(r.ci_low))}-${pct0(Number(r.ci_high))}%`;
        fields[`parity.${c}.${m}.${side}.median`] = `${f1(Number(r.test_acc_median))}%`;
      }
      const e = par(c, m, "echolab"), t = par(c, m, "torch");
      fields[`parity.${c}.${m}.p`] = f2(Number(e.fisher_p || t.fisher_p));
    }
  }
  // Does keeping one fixed series change the RNN H60's success rate, on both sides alike?
  const moreOften = (side: string) =>
    Number(par("echo10-rnn-h60", "fixed", side).successes) / Number(par("echo10-rnn-h60", "fixed", side).n) -
    Number(par("echo10-rnn-h60", "regen", side).successes) / Number(par("echo10-rnn-h60", "regen", side).n);
  const [dt, de] = [moreOften("torch"), moreOften("echolab")];
  const minP = Math.min(...rows.map((p) => Number(p.fisher_p)).filter(Number.isFinite));
  fields["parity.verdict"] = minP >= 0.05
    ? `No configuration of \`exp:parity\` shows a significant difference between PyTorch and echolab at the 5% level: every Fisher p is at least ${
      f2(minP)
    }.`
    : `Some configurations of \`exp:parity\` differ between PyTorch and echolab (smallest Fisher p ${
      f2(minP)
    }): see the table below.`;
  fields["parity.h60.fixedEffect"] = dt > 0 && de > 0
    ? "learns more often with one fixed series than with a new series every epoch, on both sides alike"
    : dt < 0 && de < 0
    ? "learns less often with one fixed series than with a new series every epoch, on both sides alike"
    : "does not change its success rate the same way on both sides when the series is fixed";
  const markdown =
    `## How faithful the reproduction is (\`deno task exp:parity\`)\n\nThe notebook's own PyTorch code (\`bench/torch_parity.py\`, Debian's PyTorch, one thread) and echolab, on the same configurations over many seeds; \`regen\` draws a new series at chunk 0 of every epoch as upstream, \`fixed\` keeps one (\`--fixed-series\`). Seeds mean different things on the two sides (NumPy and torch generators against ours), so the comparison is of rates and distributions, not of single seeds. Fisher p: two-sided exact test of equal success rates.\n\n${table}\n`;
  return { fields, markdown };
}
