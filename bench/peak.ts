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
).exports as {
  madd: (iterations: number, start: number, scale: number) => number;
  MADDS_PER_ITERATION: WebAssembly.Global;
};

/** Multiply-adds per iteration of the loop: 8 accumulators x 4 lanes. */
export const MADDS_PER_ITERATION: number = wasm.MADDS_PER_ITERATION.value;

/** The factors' scale: products of 2^-30 to 2^-27, below half an ulp of the accumulators (1), which so stay 1. */
const SCALE = 2 ** -30;

/** What `madd(n, 1, SCALE)` returns for any n: 8 accumulators x 4 lanes x 1. */
export const PEAK_CHECK = 32;

/** The loop's result after `iterations` iterations from accumulators at `start` (the bits are the check). */
export function maddLoop(iterations: number, start = 1, scale = SCALE): number {
  return wasm.madd(iterations, start, scale);
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
