// Arithmetic limit probe for `deno task bench`: an f32x4 multiply-then-add loop (no relaxed SIMD, no fused multiply-add).
// Build: `deno task build:wasm` (writes lib/kernels/cpu/peak_wasm.ts); bench/peak.ts times it.
//
// The matmuls' pattern: eight independent accumulators, each a <- a + x * m
// with f32x4.mul then f32x4.add (two roundings, as every engine must compute
// them: results are bit-identical on every machine), x loaded from memory as
// a matmul loads its weights (two loads a step, each feeding four products:
// a factor in a register would let the compiler hoist the products out of the
// loop). Only the adds chain, so the loop is bound by the core's load,
// multiply and add throughput, not by a multiply-then-add latency (a <- a * m
// + c, the first version, measured about half the rate the H 60 step reaches).

/** Multiply-adds of one iteration: 8 accumulators of 4 lanes. */
export const MADDS_PER_ITERATION: i32 = 32;

/** Sixteen f32x4 of factors 1..4, the loads' source. */
const X = memory.data<f32>([
  1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3,
  1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3,
]);

/**
 * Runs `iterations` iterations from accumulators at `start`, with factors of
 * 1 to 4 times four scales `scale`, 2 `scale`, 3 `scale`, 4 `scale`; returns
 * the sum of every lane of every accumulator. With products below half an ulp
 * of the accumulators (bench/peak.ts: start 1, scale 2^-30) every add rounds
 * back to the accumulator, so the result is 32 x start whatever the count,
 * and the work cannot be optimised away (`scale` is an argument).
 */
export function madd(iterations: i32, start: f32, scale: f32): f32 {
  const m0 = f32x4.splat(scale);
  const m1 = f32x4.splat(scale * 2);
  const m2 = f32x4.splat(scale * 3);
  const m3 = f32x4.splat(scale * 4);
  let a0 = f32x4.splat(start);
  let a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let i = 0; i < iterations; i++) {
    const at = X + (<usize>(i & 7) << 5);
    const x0 = v128.load(at);
    const x1 = v128.load(at, 16);
    a0 = f32x4.add(a0, f32x4.mul(x0, m0));
    a1 = f32x4.add(a1, f32x4.mul(x0, m1));
    a2 = f32x4.add(a2, f32x4.mul(x0, m2));
    a3 = f32x4.add(a3, f32x4.mul(x0, m3));
    a4 = f32x4.add(a4, f32x4.mul(x1, m0));
    a5 = f32x4.add(a5, f32x4.mul(x1, m1));
    a6 = f32x4.add(a6, f32x4.mul(x1, m2));
    a7 = f32x4.add(a7, f32x4.mul(x1, m3));
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
