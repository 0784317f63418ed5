/**
 * The wasm step's gate math in f32x4 (`wasm/src/step.ts`: expv, tanhv,
 * sigmoidv, exported for tests as `gateMath`) against Math.exp, Math.tanh and
 * 1 / (1 + Math.exp(-x)), each computed in float64 and rounded to float32: a
 * dense sweep over every magnitude (every 1021st float32 bit pattern of each
 * sign, subnormals to infinity), a fine uniform sweep over [-20, 20], and the
 * extremes (±0 with their signs, subnormals, the overflow and underflow
 * edges, ±1e4, ±Infinity, NaN passed through as the reference does).
 */
import { assert } from "../_assert.ts";
import { layout, wasm } from "../../lib/kernels/cpu/step.ts";

/** The most ulps the vector functions may be from the rounded reference (measured: exp 1, tanh 1, sigmoid 2). */
const MAX_ULPS = 3;

const FNS = [
  { name: "exp", code: 0, ref: (x: number) => Math.exp(x) },
  { name: "tanh", code: 1, ref: (x: number) => Math.tanh(x) },
  { name: "sigmoid", code: 2, ref: (x: number) => 1 / (1 + Math.exp(-x)) },
] as const;

const BLOCK = 1 << 16;
const at = layout({ block: BLOCK }).block;

/** The functions' values at `xs` (any length), through the module's memory a block at a time. */
function apply(code: number, xs: Float32Array): Float32Array {
  const out = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i += BLOCK) {
    const part = xs.subarray(i, i + BLOCK), n = (part.length + 3) & ~3;
    const mem = new Float32Array(wasm.memory.buffer, at * 4, BLOCK);
    mem.fill(0, 0, n);
    mem.set(part);
    wasm.gateMath(code, at * 4, n);
    out.set(mem.subarray(0, part.length), i);
  }
  return out;
}

/** Float32 bit patterns ordered as integers, so that their difference counts ulps (±0 both 0). */
const ordered = (bits: number) => (bits < 0 ? -(bits & 0x7fffffff) : bits);

/** The worst ulp distance over `xs` (a NaN where the reference is not, or the reverse, counts as Infinity). */
function worst(code: number, ref: (x: number) => number, xs: Float32Array): { ulps: number; x: number } {
  const got = apply(code, xs), want = xs.map(ref);
  const gotBits = new Int32Array(got.buffer), wantBits = new Int32Array(want.buffer);
  let w = { ulps: 0, x: NaN };
  for (let i = 0; i < xs.length; i++) {
    const g = got[i], r = want[i];
    const ulps = g !== g || r !== r
      ? (g !== g && r !== r ? 0 : Infinity)
      : Math.abs(ordered(gotBits[i]) - ordered(wantBits[i]));
    if (ulps > w.ulps) w = { ulps, x: xs[i] };
  }
  return w;
}

function denseSweep(): Float32Array {
  const bits: number[] = [];
  for (let b = 0; b <= 0x7f800000; b += 1021) bits.push(b, b + 0x80000000);
  const xs = new Float32Array(new Uint32Array(bits).buffer);
  const uniform = Float32Array.from({ length: 400001 }, (_, i) => -20 + i * 1e-4);
  const all = new Float32Array(xs.length + uniform.length);
  all.set(xs);
  all.set(uniform, xs.length);
  return all;
}

const EXTREMES = Float32Array.from(
  [
    0,
    1e-45,
    1e-40,
    1.1754943508222875e-38,
    1e-30,
    1e-8,
    0.6249999,
    0.625,
    0.6250001,
    1,
    9,
    10,
    11,
    87.3,
    88.7,
    88.72283935546875,
    88.72284,
    89,
    103.9,
    103.97,
    104,
    1e4,
    3.4028234663852886e38,
    Infinity,
  ].flatMap((x) => [x, -x]),
);

for (const f of FNS) {
  Deno.test(`gate math: ${f.name} within ${MAX_ULPS} float32 ulp of the rounded reference, dense sweep`, () => {
    const w = worst(f.code, f.ref, denseSweep());
    console.log(`${f.name}: worst ${w.ulps} ulp at ${w.x}`);
    assert.ok(w.ulps <= MAX_ULPS, `${f.name}: ${w.ulps} ulp at x = ${w.x}`);
  });

  Deno.test(`gate math: ${f.name} at the extremes (±0, subnormals, the overflow edges, ±1e4, ±Inf, NaN)`, () => {
    const w = worst(f.code, f.ref, EXTREMES);
    assert.ok(w.ulps <= MAX_ULPS, `${f.name}: ${w.ulps} ulp at x = ${w.x}`);
    const [nan, zero, negZero] = apply(f.code, Float32Array.of(NaN, 0, -0));
    assert.ok(Number.isNaN(nan), `${f.name}(NaN) is ${nan}`);
    assert.ok(Object.is(zero, Math.fround(f.ref(0))), `${f.name}(0) is ${zero}`);
    assert.ok(Object.is(negZero, Math.fround(f.ref(-0))), `${f.name}(-0) is ${negZero}`);
  });
}
