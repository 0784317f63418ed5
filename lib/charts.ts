/**
 * Charts as Vega-Lite specs, compiled by vega-lite and rendered headless by
 * Vega's `View.toSVG()` (no browser), rasterised to PNG by resvg (WebAssembly)
 * with the DejaVu Sans web font (169 KB TTF) shipped by the npm package dejavu-sans.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { writeFileAtomic } from "./durable.ts";

export type { TopLevelSpec };

const NODE_MODULES = new URL("../node_modules/", import.meta.url);
let wasmReady: Promise<void> | null = null;
let font: Uint8Array | null = null;

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG string to PNG bytes at `scale` times its size. */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  wasmReady ??= initWasm(Deno.readFileSync(new URL("@resvg/resvg-wasm/index_bg.wasm", NODE_MODULES)));
  await wasmReady;
  font ??= Deno.readFileSync(new URL("dejavu-sans/fonts/dejavu-sans-webfont.ttf", NODE_MODULES));
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: { fontBuffers: [font], defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
  });
  const png = r.render().asPng();
  r.free();
  return png;
}

/** Writes `<base>.svg` and `<base>.png` for a spec, each whole or not at all; returns the two paths. */
export async function writeChart(base: string, spec: TopLevelSpec): Promise<[string, string]> {
  const svg = await renderSvg(spec);
  writeFileAtomic(`${base}.svg`, svg);
  writeFileAtomic(`${base}.png`, await svgToPng(svg));
  return [`${base}.svg`, `${base}.png`];
}

type Datum = Record<string, string | number | null>;

/** Outcomes of a seed in {@linkcode learningCurvesSpec}'s rows. */
export const LEARNT = "learnt (test >= 99%)", NOT_LEARNT = "did not";

/**
 * Train accuracy per epoch, one line per seed coloured by its `outcome`
 * ({@linkcode LEARNT} or {@linkcode NOT_LEARNT}), a panel per config; test accuracy as points.
 */
export function learningCurvesSpec(rows: Datum[], title: string, order?: string[]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: rows },
    facet: { field: "experiment", type: "nominal", title: null, ...(order ? { sort: order } : {}) },
    columns: 5,
    resolve: { scale: { x: "independent" } },
    spec: {
      width: 160,
      height: 110,
      layer: [
        {
          transform: [{ filter: "datum.phase === 'train'" }],
          mark: { type: "line", strokeWidth: 1, opacity: 0.6 },
          encoding: {
            x: { field: "epoch", type: "quantitative", title: "epoch" },
            y: { field: "train_acc", type: "quantitative", title: "accuracy %", scale: { domain: [40, 100] } },
            detail: { field: "seed", type: "nominal" },
            // Each row's "outcome" (LEARNT or not): the seeds that learnt keep a colour of their own.
            color: {
              field: "outcome",
              type: "nominal",
              title: "seed",
              scale: { domain: [NOT_LEARNT, LEARNT], range: ["#9e9e9e", "#2ca02c"] },
              legend: { labelLimit: 240 },
            },
          },
        },
        {
          transform: [{ filter: "datum.phase === 'test'" }],
          mark: { type: "point", filled: true, size: 14, color: "#e45756" },
          encoding: {
            x: { field: "epoch", type: "quantitative" },
            y: { field: "test_acc", type: "quantitative" },
          },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Success rate per config with its Wilson 95% interval. */
export function successBarsSpec(summary: Datum[], title: string): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: summary },
    width: 420,
    height: 220,
    encoding: { x: { field: "config", type: "nominal", sort: null, title: null, axis: { labelAngle: -40 } } },
    layer: [
      {
        mark: { type: "bar", color: "#4c78a8" },
        encoding: {
          y: {
            field: "success_rate",
            type: "quantitative",
            title: "success rate (test >= 99%)",
            scale: { domain: [0, 1] },
            axis: { format: "%" },
          },
        },
      },
      {
        mark: { type: "rule", color: "black" },
        encoding: { y: { field: "wilson_low", type: "quantitative" }, y2: { field: "wilson_high" } },
      },
    ],
  } as TopLevelSpec;
}

/** Largest echo step learnt per cell and hidden size. */
export function capacityHeatmapSpec(cells: Datum[], title: string): TopLevelSpec {
  const light = 0.6 * Math.max(1, ...cells.map((c) => Number(c.capacity))); // viridis turns light here
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: cells },
    width: 300,
    height: 160,
    encoding: {
      x: { field: "hidden", type: "ordinal", title: "hidden units", sort: "ascending" },
      y: { field: "cell", type: "nominal", title: null },
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: { field: "capacity", type: "quantitative", title: "max echo", scale: { scheme: "viridis" } },
        },
      },
      {
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "capacity", type: "quantitative" },
          color: { condition: { test: `datum.capacity > ${light}`, value: "black" }, value: "white" },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Mean |d loss_t / d x_(t-k)| against lag k, a line per cell and phase. */
export function gradientLagSpec(rows: Datum[], title: string): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: rows },
    width: 420,
    height: 240,
    mark: { type: "line", point: false },
    encoding: {
      x: { field: "lag", type: "quantitative", title: "lag k (steps back)" },
      y: { field: "mean_abs_grad", type: "quantitative", title: "mean |dL_t / dx_(t-k)|", scale: { type: "log" } },
      color: { field: "cell", type: "nominal" },
      strokeDash: { field: "phase", type: "nominal" },
    },
  } as TopLevelSpec;
}
