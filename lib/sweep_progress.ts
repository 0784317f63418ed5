/**
 * One overall progress line for a sweep on a terminal: configurations done,
 * seeds done, elapsed time and an estimate of the time left, redrawn in place
 * on stderr once a second. Drawn only where escape codes are welcome
 * ({@linkcode escapeCodesAllowed}); otherwise the sweep prints its plain
 * per-config lines and nothing else, so logs stay plain.
 */
import { escapeCodesAllowed, terminalColumns } from "./progress.ts";

/** What one redraw shows. */
export interface SweepState {
  /** What is counted, e.g. "configs" or "units". */
  noun: string;
  done: number;
  total: number;
  seedsDone: number;
  seedsTotal: number;
  /** Share of the whole sweep's work done, 0..1, counting running jobs' progress; 0 when unknown. */
  fraction: number;
  /** Seconds since the sweep began. */
  seconds: number;
}

/** `45s`, `12m05s`, `3h07m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const p = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${p(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${p(Math.floor((s % 3600) / 60))}m`;
}

/**
 * `sweep: 3/10 configs, 60/200 seeds, 12m05s elapsed, about 25m10s left`,
 * cut to `columns - 1` characters so it never wraps. The time left is the
 * elapsed time scaled by the work still to do (`fraction`), left out until
 * some work is done.
 */
export function formatSweepProgress(s: SweepState, columns: number): string {
  const f = Math.min(Math.max(s.fraction, 0), 1);
  const left = f > 0 ? `, about ${formatDuration((s.seconds * (1 - f)) / f)} left` : "";
  const line = `sweep: ${s.done}/${s.total} ${s.noun}, ${s.seedsDone}/${s.seedsTotal} seeds, ` +
    `${formatDuration(s.seconds)} elapsed${left}`;
  return line.slice(0, Math.max(0, Math.floor(columns) - 1));
}

/**
 * The sweep's progress line. Jobs report their share done with
 * {@linkcode SweepProgress.partial} and their end with
 * {@linkcode SweepProgress.finish}; every other line the sweep prints goes
 * through {@linkcode SweepProgress.log}, which clears the line first and
 * redraws it after.
 */
export class SweepProgress {
  readonly enabled: boolean;
  #state: SweepState;
  #running = new Map<string, number>();
  #start = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `total` jobs of `seedsTotal` seeds in all; `enabled` defaults to {@linkcode escapeCodesAllowed}. */
  constructor(noun: string, total: number, seedsTotal: number, enabled = escapeCodesAllowed()) {
    this.enabled = enabled;
    this.#state = { noun, done: 0, total, seedsDone: 0, seedsTotal, fraction: 0, seconds: 0 };
    if (enabled) {
      const timer = setInterval(() => this.#draw(), 1000);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Job `id` is `share` (0..1) done. */
  partial(id: string, share: number): void {
    this.#running.set(id, Math.min(Math.max(share, 0), 1));
  }

  /** Seeds finished inside a job that is still running (counted now, not at its end). */
  seeds(n: number): void {
    this.#state.seedsDone += n;
  }

  /** Job `id` ended, with `seeds` more seeds done. */
  finish(id: string, seeds: number): void {
    this.#running.delete(id);
    this.#state.done++;
    this.#state.seedsDone += seeds;
    this.#draw();
  }

  /** Prints `line` on stdout below the progress line. */
  log(line: string): void {
    this.#clear();
    console.log(line);
    this.#draw();
  }

  /** Clears the line and stops redrawing. */
  stop(): void {
    clearInterval(this.#timer);
    this.#clear();
  }

  /** The state a redraw now shows. */
  get state(): SweepState {
    const running = [...this.#running.values()].reduce((a, b) => a + b, 0);
    const { done, total } = this.#state;
    return {
      ...this.#state,
      fraction: total > 0 ? (done + running) / total : 0,
      seconds: (performance.now() - this.#start) / 1000,
    };
  }

  #draw(): void {
    if (this.enabled) this.#write(`\r\x1b[2K${formatSweepProgress(this.state, terminalColumns())}`);
  }

  #clear(): void {
    if (this.enabled) this.#write("\r\x1b[2K");
  }

  #write(text: string): void {
    try {
      Deno.stderr.writeSync(new TextEncoder().encode(text));
    } catch { /* a closed terminal is no reason to stop the sweep */ }
  }
}
