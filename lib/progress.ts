/** What one redraw of the progress bar shows. */
export interface ProgressState {
  label: string;
  done: number;
  total: number;
  /** Running loss; NaN leaves it out. */
  loss: number;
  /** Running accuracy, %. */
  accuracy: number;
  /** Seconds since the bar began. */
  seconds: number;
}

/** Columns assumed when the terminal's width cannot be read. */
export const DEFAULT_COLUMNS = 80;

/** Widest bar drawn; narrower terminals get a shorter one, or none. */
const BAR_MAX = 24, BAR_MIN = 5;

/**
 * The progress line for a terminal `columns` wide: at most `columns - 1`
 * characters, so it never wraps (a wrapped line is not erased by the next
 * redraw and the bars stack up). The bar shrinks first (24 down to 5 cells),
 * then goes; then the rate, then the ETA are dropped; what is still too long
 * is cut.
 */
export function formatProgress(p: ProgressState, columns: number): string {
  const max = Math.max(0, Math.floor(columns) - 1);
  const rate = p.done / Math.max(p.seconds, 1e-9);
  const eta = (p.total - p.done) / Math.max(rate, 1e-9);
  const count = `${p.done}/${p.total}`;
  const rateText = `${rate.toFixed(0)} step/s`;
  const etaText = `ETA ${eta.toFixed(0)}s`;
  const tail = [Number.isNaN(p.loss) ? "" : `loss ${p.loss.toFixed(3)}`, `acc ${p.accuracy.toFixed(1)}%`];
  const join = (parts: string[]) => parts.filter((s) => s !== "").join(" ");
  const bar = (width: number) => {
    const fill = Math.round((Math.min(Math.max(p.done / Math.max(p.total, 1), 0), 1)) * width);
    return `[${"#".repeat(fill) + "-".repeat(width - fill)}]`;
  };
  const withBar = join([p.label, "[]", count, rateText, etaText, ...tail]);
  const width = Math.min(BAR_MAX, max - withBar.length);
  if (width >= BAR_MIN) return join([p.label, bar(width), count, rateText, etaText, ...tail]);
  for (const line of [join([p.label, count, rateText, etaText, ...tail]), join([p.label, count, etaText, ...tail])]) {
    if (line.length <= max) return line;
  }
  return join([p.label, count, ...tail]).slice(0, max);
}

/** The terminal's width in columns, or {@linkcode DEFAULT_COLUMNS} when it cannot be read. */
export function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns > 0 ? columns : DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

/**
 * Whether a line may be redrawn in place on stderr: stderr is a terminal,
 * NO_COLOR is not set and TERM is not `dumb` (TERM is read only where the run
 * may read it; it is never prompted for).
 */
export function escapeCodesAllowed(): boolean {
  if (!Deno.stderr.isTerminal() || Deno.noColor) return false;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "TERM" }).state !== "granted") return true;
    return Deno.env.get("TERM") !== "dumb";
  } catch {
    return true;
  }
}

/**
 * A one-line progress bar on stderr when it is a terminal (steps done, rate,
 * ETA, running loss and accuracy), fitted to the terminal's width at every
 * redraw, where {@linkcode escapeCodesAllowed}; silent otherwise, so logs
 * stay plain.
 */
export class Progress {
  readonly enabled: boolean;
  #label = "";
  #start = 0;
  #last = 0;

  constructor(enabled = escapeCodesAllowed()) {
    this.enabled = enabled;
  }

  /** Starts a bar named `label`. */
  begin(label: string): void {
    this.#label = label;
    this.#start = performance.now();
    this.#last = 0;
  }

  /** Redraws at most ten times a second, and on the last step. */
  update(done: number, total: number, loss: number, accuracy: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < total && now - this.#last < 100) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    const line = formatProgress({ label: this.#label, done, total, loss, accuracy, seconds }, terminalColumns());
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
  }

  /** Clears the bar so the next printed line starts clean. */
  end(): void {
    if (this.enabled) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  }
}
