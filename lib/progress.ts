/**
 * A one-line progress bar on stderr when it is a terminal (steps done, rate,
 * ETA, running loss and accuracy); silent otherwise, so logs stay plain.
 */
export class Progress {
  readonly enabled: boolean;
  #label = "";
  #start = 0;
  #last = 0;

  constructor(enabled = Deno.stderr.isTerminal()) {
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
    const secs = (now - this.#start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = (total - done) / Math.max(rate, 1e-9);
    const width = 24, fill = Math.round((done / total) * width);
    const bar = "#".repeat(fill) + "-".repeat(width - fill);
    const lossText = Number.isNaN(loss) ? "" : ` loss ${loss.toFixed(3)}`;
    const line = `${this.#label} [${bar}] ${done}/${total} ${rate.toFixed(0)} step/s ETA ${eta.toFixed(0)}s` +
      `${lossText} acc ${accuracy.toFixed(1)}%`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
  }

  /** Clears the bar so the next printed line starts clean. */
  end(): void {
    if (this.enabled) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  }
}
