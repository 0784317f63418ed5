/**
 * Output helpers for notebooks/signal-echoing.ipynb on Deno's Jupyter kernel:
 * text and rich outputs that arrive in the cell that made them, a run's log
 * with a progress line that redraws in place (one display, replaced through
 * its display_id, so a run leaves one block in the notebook, not thousands of
 * lines) and a chart of loss per epoch. Outside the kernel (`deno run`) text
 * goes to the console and rich outputs are skipped.
 *
 * Why not console.log: Deno's kernel (2.9) sends a cell's console output and
 * displays through queues and may tell the front end that the cell finished
 * before they are out; front ends then drop them or show them under the next
 * cell (most headless runs of a test notebook of 16 such cells lost some). Every helper
 * here sends through `Deno.jupyter.display` and then waits
 * {@linkcode SETTLE_MS}, so a cell that ends with one of them keeps its output.
 */
import { renderSvg } from "../mod.ts";

/** Milliseconds each output is given to leave the kernel before the cell may end. */
export const SETTLE_MS = 100;

/** `Deno.jupyter`, or null outside the kernel (where reading it throws). */
function jupyter(): typeof Deno.jupyter | null {
  try {
    return Deno.jupyter;
  } catch {
    return null;
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** Shows a rich output (a MIME bundle) in the running cell; outside Jupyter prints its text/plain. */
export async function show(bundle: Deno.jupyter.MediaBundle): Promise<void> {
  const j = jupyter();
  if (!j) {
    if (bundle["text/plain"] !== undefined) console.log(bundle["text/plain"]);
    return;
  }
  await j.display(bundle, { raw: true });
  await settle();
}

/** Prints lines of text as one output of the running cell. */
export async function print(...lines: string[]): Promise<void> {
  await show({ "text/plain": lines.join("\n") });
}

/** Shows Markdown. */
export async function markdown(text: string): Promise<void> {
  await show({ "text/markdown": text, "text/plain": text });
}

/** Shows an SVG file (a published chart) inline. */
export async function showSvgFile(path: string, caption: string): Promise<void> {
  await show({ "image/svg+xml": await Deno.readTextFile(path), "text/plain": `[chart: ${caption}]` });
}

let displays = 0;

/** A bar `width` characters wide, `fraction` of it full. */
function bar(fraction: number, width = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * A run's output: the lines it prints, and under them one progress line
 * (phase, chunks done, running loss and accuracy, seconds) redrawn in place at
 * most every `everyMs` and at the end of each pass, all in one display.
 */
export class RunLog {
  readonly id: string;
  readonly name: string;
  readonly everyMs: number;
  readonly lines: string[] = [];
  #status = "";
  #fraction = 0;
  #start = performance.now();
  #last = 0;
  #pending: Promise<void> = Promise.resolve();

  private constructor(name: string, everyMs: number) {
    this.name = name;
    this.everyMs = everyMs;
    this.id = `echolab-run-${Date.now().toString(36)}-${++displays}`;
  }

  /** Opens the display in the running cell. */
  static async start(name: string, everyMs = 250): Promise<RunLog> {
    const log = new RunLog(name, everyMs);
    log.#status = `${name}: starting`;
    await jupyter()?.display(log.#bundle(0), { raw: true, display_id: log.id });
    return log;
  }

  /** Adds a line above the progress line (printed at once outside Jupyter). */
  line(text: string): void {
    this.lines.push(text);
    if (!jupyter()) console.log(text);
    this.#send(this.#fraction);
  }

  /** Redraws the progress line (throttled): `trainEpoch`'s and `testEpoch`'s `onStep` arguments. */
  progress(phase: string, done: number, total: number, loss: number, accuracy: number): void {
    const now = performance.now();
    if (done < total && now - this.#last < this.everyMs) return;
    this.#last = now;
    this.#fraction = done / total;
    this.#status = `${this.name} ${phase} ${bar(done / total)} ${done}/${total} chunks` +
      (Number.isFinite(loss) ? `  loss ${loss.toFixed(3)}` : "") +
      `  accuracy ${accuracy.toFixed(1)}%  ${this.#seconds()} s`;
    this.#send(this.#fraction);
  }

  /** The last redraw: the progress line becomes `<name>: <text> in <seconds> s`. */
  async finish(text: string): Promise<void> {
    this.#status = `${this.name}: ${text} in ${this.#seconds()} s`;
    if (!jupyter()) console.log(this.#status);
    this.#send(1);
    await this.#pending;
    await settle();
  }

  #seconds(): string {
    return ((performance.now() - this.#start) / 1000).toFixed(1);
  }

  #send(fraction: number): void {
    const j = jupyter();
    if (!j) return;
    const bundle = this.#bundle(fraction);
    // Callers are synchronous (onStep): the updates queue up in order behind each other.
    this.#pending = this.#pending.then(() => j.display(bundle, { raw: true, display_id: this.id, update: true }));
  }

  #bundle(fraction: number): Deno.jupyter.MediaBundle {
    const status = this.#status.replace(/ [█░]+ /, " ");
    return {
      "text/plain": [...this.lines, this.#status].join("\n"),
      "text/html": `<pre style="margin: 0">${escapeHtml(this.lines.join("\n"))}</pre>` +
        `<div style="font-family: monospace"><progress value="${fraction.toFixed(3)}" max="1" ` +
        `style="width: 12em; vertical-align: middle"></progress> ${escapeHtml(status)}</div>`,
    };
  }
}

/** One point of {@linkcode lossChart}: a seed's loss (last chunk) at the end of an epoch. */
export interface LossPoint {
  seed: number;
  epoch: number;
  loss: number;
  /** Whether this seed's test accuracy reached the success threshold. */
  learnt: boolean;
}

export const LEARNT = "learnt (test >= 99%)", NOT_LEARNT = "did not";

/** Vega-Lite spec of loss per epoch, one line per seed, coloured by whether the seed learnt. */
export function lossChartSpec(points: LossPoint[], title: string) {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 360,
    height: 180,
    data: { values: points.map((p) => ({ ...p, outcome: p.learnt ? LEARNT : NOT_LEARNT })) },
    mark: { type: "line" as const, point: points.length <= 40, strokeWidth: 1.5, opacity: 0.7 },
    encoding: {
      x: { field: "epoch", type: "quantitative" as const, title: "epoch", axis: { tickMinStep: 1 } },
      y: { field: "loss", type: "quantitative" as const, title: "loss (last chunk of the epoch)" },
      detail: { field: "seed", type: "nominal" as const },
      color: {
        field: "outcome",
        type: "nominal" as const,
        title: "seed",
        scale: { domain: [NOT_LEARNT, LEARNT], range: ["#9e9e9e", "#2ca02c"] },
      },
    },
  };
}

/** Renders {@linkcode lossChartSpec} to SVG and shows it; returns the SVG. */
export async function lossChart(points: LossPoint[], title: string): Promise<string> {
  const svg = await renderSvg(lossChartSpec(points, title));
  await show({ "image/svg+xml": svg, "text/plain": `[chart: ${title}]` });
  return svg;
}
