import { assert } from "../_assert.ts";
import { XMLParser } from "fast-xml-parser";
import { renderSvg, successBarsSpec, svgToPng } from "../../lib/charts.ts";

type Node = Record<string, unknown>;

/** Every element named `tag` whose class attribute contains `cls`, anywhere in the tree. */
function find(node: unknown, tag: string, cls: string, out: Node[] = []): Node[] {
  if (Array.isArray(node)) { for (const n of node) find(n, tag, cls, out); }
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node as Node)) {
      if (k === tag) {
        for (const el of Array.isArray(v) ? v : [v]) {
          if (String((el as Node)["@_class"] ?? "").includes(cls)) out.push(el as Node);
        }
      }
      find(v, tag, cls, out);
    }
  }
  return out;
}

Deno.test("a success-rate chart is valid SVG with one bar and one interval per config", async () => {
  const summary = ["rnn-h4", "lstm-h60", "gru-h60"].map((config, i) => ({
    config,
    success_rate: i / 4,
    wilson_low: i / 8,
    wilson_high: 0.5 + i / 8,
  }));
  const svg = await renderSvg(successBarsSpec(summary, "test"));
  const doc = new XMLParser({ ignoreAttributes: false, preserveOrder: false }).parse(svg, true);
  assert.ok(doc.svg, "root element is <svg>");
  const bars = find(doc, "g", "mark-rect");
  const rules = find(doc, "g", "mark-rule");
  assert.equal(bars.length, 1);
  const paths = (g: Node) => [(g.path ?? []) as unknown[]].flat().length + [(g.line ?? []) as unknown[]].flat().length;
  assert.equal(paths(bars[0]), 3, "one bar per config");
  assert.equal(paths(rules.find((g) => String(g["@_class"]).includes("role-mark"))!), 3, "one interval per config");
  for (const label of ["rnn-h4", "lstm-h60", "gru-h60"]) {
    assert.ok(svg.includes(`>${label}</text>`), `axis label ${label}`);
  }

  const png = await svgToPng(svg, 1);
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
});
