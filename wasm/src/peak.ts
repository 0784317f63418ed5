// Arithmetic limit probe for `deno task bench`: an f32x4 multiply-then-add loop (no relaxed SIMD, no fused multiply-add).
// Build: `deno task build:wasm` (writes lib/kernels/cpu/peak_wasm.ts); bench/peak.ts times it.
//
// Twelve independent accumulators, each a <- a * m + c with f32x4.mul then
// f32x4.add (two roundings, as every engine must compute them: results are
// bit-identical on every machine), so the loop is bound by the core's
// multiply and add throughput rather than by one chain's latency. Twelve
// accumulators and two constants fit x86-64's sixteen SIMD registers.

/** Multiply-adds of one iteration: 12 accumulators of 4 lanes. */
export const MADDS_PER_ITERATION: i32 = 48;

/**
 * Runs `iterations` iterations; returns the sum of every lane of every
 * accumulator (each lane starts at `start` and tends to c / (1 - m) = 2), so
 * the work cannot be optimised away and the result can be checked.
 */
export function madd(iterations: i32, start: f32): f32 {
  const m = f32x4.splat(0.5);
  const c = f32x4.splat(1.0);
  let a0 = f32x4.splat(start);
  let a1 = f32x4.splat(start + 1);
  let a2 = f32x4.splat(start + 2);
  let a3 = f32x4.splat(start + 3);
  let a4 = f32x4.splat(start + 4);
  let a5 = f32x4.splat(start + 5);
  let a6 = f32x4.splat(start + 6);
  let a7 = f32x4.splat(start + 7);
  let a8 = f32x4.splat(start + 8);
  let a9 = f32x4.splat(start + 9);
  let a10 = f32x4.splat(start + 10);
  let a11 = f32x4.splat(start + 11);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.add(f32x4.mul(a0, m), c);
    a1 = f32x4.add(f32x4.mul(a1, m), c);
    a2 = f32x4.add(f32x4.mul(a2, m), c);
    a3 = f32x4.add(f32x4.mul(a3, m), c);
    a4 = f32x4.add(f32x4.mul(a4, m), c);
    a5 = f32x4.add(f32x4.mul(a5, m), c);
    a6 = f32x4.add(f32x4.mul(a6, m), c);
    a7 = f32x4.add(f32x4.mul(a7, m), c);
    a8 = f32x4.add(f32x4.mul(a8, m), c);
    a9 = f32x4.add(f32x4.mul(a9, m), c);
    a10 = f32x4.add(f32x4.mul(a10, m), c);
    a11 = f32x4.add(f32x4.mul(a11, m), c);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))),
    f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)),
  );
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
