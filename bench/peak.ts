/**
 * This machine's arithmetic limit for `deno task bench`: multiply-adds per
 * second on one core, timed on the f32x4 multiply-then-add loop of
 * `wasm/src/peak.ts` (built into `lib/kernels/cpu/peak_wasm.ts`). Plain SIMD,
 * no relaxed SIMD and no fused multiply-add, the instructions the fused
 * kernels use, so the loop's result is the same bits on every machine
 * ({@linkcode PEAK_CHECK}) and its speed is the most those kernels can reach.
 */
import { PEAK_WASM } from "../lib/kernels/cpu/peak_wasm.ts";

const wasm = new WebAssembly.Instance(
  new WebAssembly.Module(Uint8Array.from(atob(PEAK_WASM), (c) => c.charCodeAt(0))),
  { env: { abort: () => {} } },
).exports as { madd: (iterations: number, start: number) => number; MADDS_PER_ITERATION: WebAssembly.Global };

/** Multiply-adds per iteration of the loop: 12 accumulators x 4 lanes. */
export const MADDS_PER_ITERATION: number = wasm.MADDS_PER_ITERATION.value;

/** What `madd(n, 0)` returns for n >= 64: every lane has reached its fixed point 2 (12 x 4 x 2). */
export const PEAK_CHECK = 96;

/** The loop's result after `iterations` iterations from lanes `start`, `start + 1`, ... (the bits are the check). */
export function maddLoop(iterations: number, start = 0): number {
  return wasm.madd(iterations, start);
}

/**
 * Multiply-adds per second on this core: the best of `tries` timings of the
 * loop, each about `ms` milliseconds (after one to size them). Throws if the
 * loop's result is not {@linkcode PEAK_CHECK}.
 */
export function peakMaddsPerSecond(ms = 200, tries = 5): number {
  let n = 1 << 16;
  const t0 = performance.now();
  for (; performance.now() - t0 < 20; n *= 2) maddLoop(n);
  let t = performance.now();
  maddLoop(n);
  n = Math.max(1 << 16, Math.min(2 ** 30, Math.round((n * ms) / Math.max(performance.now() - t, 1e-3))));
  let best = 0;
  for (let i = 0; i < tries; i++) {
    t = performance.now();
    const sum = maddLoop(n);
    const s = (performance.now() - t) / 1000;
    if (sum !== PEAK_CHECK) throw new Error(`peak loop returned ${sum}, not ${PEAK_CHECK}`);
    best = Math.max(best, (n * MADDS_PER_ITERATION) / s);
  }
  return best;
}

if (import.meta.main) console.log(`${(peakMaddsPerSecond() / 1e9).toFixed(2)} G multiply-adds/s on one core`);
