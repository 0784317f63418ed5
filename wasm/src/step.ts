// The whole CPU training step of a block of replicas (f32, f32x4 matmuls) behind lib/kernels/cpu/step.ts.
// Build: `deno task build:wasm` (writes lib/kernels/cpu/step_wasm.ts).
//
// Two calls make a step: `gradients` (forward over the chunk for every layer,
// the Linear head, each replica's mean BCE-with-logits and right digits, then
// truncated BPTT inside the chunk) and `update` (each replica's global-norm
// clip, then RMSprop or Adam on the replicas alive). The caller decides which
// replicas are alive from the loss in between.
//
// Memory the caller lays out from `heapBase()` (pointers are byte offsets, counts are floats):
// - params, grads, m1, m2: the variables in the model's order (per layer
//   weight_ih [G, K], weight_hh [G, H], bias_ih [G], bias_hh [G]; then
//   linear.weight [H], linear.bias [1]), each [S, ...] as the tensors hold it;
// - x [S, B, T, K0], y [S, B, T]; state in and out [n][S, B, H] (h of every
//   layer, then for LSTM c of every layer); loss, right, coef, alive [S];
// - scratch: `scratchFloats` floats, this module's own layout (below).
//
// Cells: 0 rnn and irnn (ReLU), 1 lstm (gates i, f, g, o), 2 gru (r, z, n,
// reset-after), as PyTorch's. Every per-replica matrix product is a
// register-blocked f32x4 loop; the forward gate arithmetic is f32x4 with this
// module's exp, tanh and logistic (expv, tanhv, sigmoidv: within 2 float32
// ulp of Math's, tests/kernels/gates_test.ts); the backward's and the loss's
// is scalar f64 rounded to f32 where stored. The optimizer's update is f32x4.
// Up to H 8 (echo3's H 4) `gradients` takes the replica-lanes path instead
// (`gradientsLanes`, below): four replicas in the lanes of each f32x4, every
// operation of the step (gates forward and backward, loss, sums) lane-wise.

const RELU: i32 = 0;
const LSTM: i32 = 1;
const GRU: i32 = 2;

// The dimensions of the current call, set by `setDims`.
let cell = 0, B = 0, T = 0, H = 0, L = 0, K0 = 0;
let G = 0, Gp = 0, Hp = 0, K0p = 0, R = 0, Km = 0, Kmp = 0;

// Scratch offsets (floats). Each layer has a block of `layerFloats` holding
// its weights transposed and padded, its states over the chunk (row 0: the
// state in) and what backward needs of its forward pass.
let layerFloats = 0;
let oWihT = 0, oWhhT = 0, oBih = 0, oBhh = 0, oWhhP = 0, oWihP = 0;
let oHs = 0, oXp = 0, oActs = 0, oCs = 0, oAux = 0;
let oX0 = 0, oHh = 0, oDz = 0, oDY = 0, oDXp = 0, oDHh = 0, oDh = 0, oDc = 0, oDhz = 0;
let oAccHh = 0, oAccIh = 0, oZero = 0, oSpl = 0, oSums = 0, totalFloats = 0;

@inline
function pad4(n: i32): i32 {
  return (n + 3) & ~3;
}

@inline
function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

@inline
function ld(base: usize, i: i32): f32 {
  return load<f32>(base + (<usize>i << 2));
}

@inline
function st(base: usize, i: i32, v: f32): void {
  store<f32>(base + (<usize>i << 2), v);
}

function setDims(cell_: i32, B_: i32, T_: i32, H_: i32, L_: i32, K0_: i32): void {
  cell = cell_;
  B = B_;
  T = T_;
  H = H_;
  L = L_;
  K0 = K0_;
  G = (cell == LSTM ? 4 : cell == GRU ? 3 : 1) * H;
  Gp = pad4(G);
  Hp = pad4(H);
  K0p = pad4(K0);
  R = T * B;
  Km = max(K0, H);
  Kmp = pad4(Km);
  let o = 0;
  oWihT = o;
  o += Km * Gp;
  oWhhT = o;
  o += H * Gp;
  oBih = o;
  o += Gp;
  oBhh = o;
  o += Gp;
  oWhhP = o;
  o += G * Hp;
  oWihP = o;
  o += G * Hp;
  oHs = o;
  o += (T + 1) * B * Hp;
  oXp = o;
  o += R * Gp;
  oActs = o;
  o += cell == RELU ? 0 : R * Gp;
  oCs = o;
  o += cell == LSTM ? (T + 1) * B * Hp : 0;
  oAux = o;
  o += cell == RELU ? 0 : R * Hp;
  layerFloats = o;
  o = L * layerFloats;
  oX0 = o;
  o += R * K0p;
  oHh = o;
  o += B * Gp;
  oDz = o;
  o += pad4(R);
  oDY = o;
  o += R * Hp;
  oDXp = o;
  o += R * Gp;
  oDHh = o;
  o += cell == GRU ? R * Gp : 0;
  if (cell != GRU) oDHh = oDXp;
  oDh = o;
  o += B * Hp;
  oDc = o;
  o += B * Hp;
  oDhz = o;
  o += B * Hp;
  oAccHh = o;
  o += G * Hp;
  oAccIh = o;
  o += G * Kmp;
  oZero = o;
  o += max(Gp, Hp);
  oSpl = o;
  o += 5 * 4 * max(Gp, Kmp);
  oSums = o;
  o += 12;
  totalFloats = o;
  lanes = H <= LANES_MAX_H;
  if (lanes) {
    setLaneDims();
    totalFloats = vTotal << 2;
  }
}

/** Where the caller's regions may start (bytes): past the static data (the math tables), 16-byte aligned. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

/** The scratch floats `gradients` needs for these dimensions. */
export function scratchFloats(cell_: i32, B_: i32, T_: i32, H_: i32, L_: i32, K0_: i32): i32 {
  setDims(cell_, B_, T_, H_, L_, K0_);
  return totalFloats;
}

/** Floats per replica of variable v (the model's order: 4 per layer, then the head's weight and bias). */
function varSize(v: i32): i32 {
  if (v >= 4 * L) return v == 4 * L ? H : 1;
  const k = v & 3;
  if (k == 0) return G * (v < 4 ? K0 : H);
  return k == 1 ? G * H : G;
}

/** Where variable v starts in a parameter-shaped region (floats), for S replicas. */
function varOffset(v: i32, S: i32): i32 {
  let o = 0;
  for (let u = 0; u < v; u++) o += S * varSize(u);
  return o;
}

/**
 * out[r, 0:N] = bias[0:N] + sum_k a[r, k] w[k, 0:N] for r < rows: four rows by
 * eight columns at a time, so each loaded row of w serves four rows of a.
 * N is a multiple of 4; `bias` may be the zero row.
 */
function mm(
  a: usize,
  aStride: i32,
  w: usize,
  wStride: i32,
  bias: usize,
  out: usize,
  outStride: i32,
  rows: i32,
  K: i32,
  N: i32,
): void {
  if (rows == 5) {
    mm5(a, aStride, w, wStride, bias, out, outStride, K, N);
    return;
  }
  const wStep = <usize>(wStride << 2), aStep = <usize>(aStride << 2), oStep = <usize>(outStride << 2);
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const a0 = at(a, r * aStride), a1 = a0 + aStep, a2 = a1 + aStep, a3 = a2 + aStep;
    const o0 = at(out, r * outStride), o1 = o0 + oStep, o2 = o1 + oStep, o3 = o2 + oStep;
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const off = <usize>n << 2;
      const b0 = v128.load(bias + off), b1 = v128.load(bias + off, 16);
      let p0 = b0, p1 = b1, q0 = b0, q1 = b1, u0 = b0, u1 = b1, v0 = b0, v1 = b1;
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        const kk = <usize>k << 2;
        const w0 = v128.load(wr), w1 = v128.load(wr, 16);
        const x0 = f32x4.splat(load<f32>(a0 + kk)), x1 = f32x4.splat(load<f32>(a1 + kk));
        const x2 = f32x4.splat(load<f32>(a2 + kk)), x3 = f32x4.splat(load<f32>(a3 + kk));
        p0 = f32x4.add(p0, f32x4.mul(x0, w0));
        p1 = f32x4.add(p1, f32x4.mul(x0, w1));
        q0 = f32x4.add(q0, f32x4.mul(x1, w0));
        q1 = f32x4.add(q1, f32x4.mul(x1, w1));
        u0 = f32x4.add(u0, f32x4.mul(x2, w0));
        u1 = f32x4.add(u1, f32x4.mul(x2, w1));
        v0 = f32x4.add(v0, f32x4.mul(x3, w0));
        v1 = f32x4.add(v1, f32x4.mul(x3, w1));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
      v128.store(o0 + off, p1, 16);
      v128.store(o1 + off, q0);
      v128.store(o1 + off, q1, 16);
      v128.store(o2 + off, u0);
      v128.store(o2 + off, u1, 16);
      v128.store(o3 + off, v0);
      v128.store(o3 + off, v1, 16);
    }
    for (; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = v128.load(bias + off);
      let q0 = p0, u0 = p0, v0 = p0;
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        const kk = <usize>k << 2;
        const w0 = v128.load(wr);
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(a0 + kk)), w0));
        q0 = f32x4.add(q0, f32x4.mul(f32x4.splat(load<f32>(a1 + kk)), w0));
        u0 = f32x4.add(u0, f32x4.mul(f32x4.splat(load<f32>(a2 + kk)), w0));
        v0 = f32x4.add(v0, f32x4.mul(f32x4.splat(load<f32>(a3 + kk)), w0));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
      v128.store(o1 + off, q0);
      v128.store(o2 + off, u0);
      v128.store(o3 + off, v0);
    }
  }
  for (; r < rows; r++) {
    const a0 = at(a, r * aStride), o0 = at(out, r * outStride);
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const off = <usize>n << 2;
      let p0 = v128.load(bias + off), p1 = v128.load(bias + off, 16);
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        const x0 = f32x4.splat(load<f32>(a0 + (<usize>k << 2)));
        p0 = f32x4.add(p0, f32x4.mul(x0, v128.load(wr)));
        p1 = f32x4.add(p1, f32x4.mul(x0, v128.load(wr, 16)));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
      v128.store(o0 + off, p1, 16);
    }
    for (; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = v128.load(bias + off);
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(a0 + (<usize>k << 2))), v128.load(wr)));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
    }
  }
}

/** Where `mm5` lays out its rows' splatted values (set by `gradients`: scratch's oSpl). */
let spl: usize = 0;

/**
 * `mm` for exactly five rows (the recurrent products at batch 5): five rows by eight columns at a time, so no
 * row takes the one-row path (two sums in flight, bound by the add's latency). Each a[r, k] is splatted once
 * into `spl` ([k][5] vectors), so the inner loop loads its five operands instead of splatting them per column.
 */
function mm5(a: usize, aStride: i32, w: usize, wStride: i32, bias: usize, out: usize, outStride: i32, K: i32, N: i32): void {
  const wStep = <usize>(wStride << 2), oStep = <usize>(outStride << 2);
  for (let r = 0; r < 5; r++) {
    const ar = at(a, r * aStride), sr = spl + (<usize>r << 4);
    for (let k = 0; k < K; k++) v128.store(sr + <usize>(k * 80), f32x4.splat(ld(ar, k)));
  }
  const o0 = out, o1 = o0 + oStep, o2 = o1 + oStep, o3 = o2 + oStep, o4 = o3 + oStep;
  let n = 0;
  for (; n + 8 <= N; n += 8) {
    const off = <usize>n << 2;
    const b0 = v128.load(bias + off), b1 = v128.load(bias + off, 16);
    let p0 = b0, p1 = b1, q0 = b0, q1 = b1, u0 = b0, u1 = b1, v0 = b0, v1 = b1, z0 = b0, z1 = b1;
    let wr = w + off, sp = spl;
    for (let k = 0; k < K; k++) {
      const w0 = v128.load(wr), w1 = v128.load(wr, 16);
      const x0 = v128.load(sp), x1 = v128.load(sp, 16);
      p0 = f32x4.add(p0, f32x4.mul(x0, w0));
      p1 = f32x4.add(p1, f32x4.mul(x0, w1));
      q0 = f32x4.add(q0, f32x4.mul(x1, w0));
      q1 = f32x4.add(q1, f32x4.mul(x1, w1));
      const x2 = v128.load(sp, 32), x3 = v128.load(sp, 48);
      u0 = f32x4.add(u0, f32x4.mul(x2, w0));
      u1 = f32x4.add(u1, f32x4.mul(x2, w1));
      v0 = f32x4.add(v0, f32x4.mul(x3, w0));
      v1 = f32x4.add(v1, f32x4.mul(x3, w1));
      const x4 = v128.load(sp, 64);
      z0 = f32x4.add(z0, f32x4.mul(x4, w0));
      z1 = f32x4.add(z1, f32x4.mul(x4, w1));
      wr += wStep;
      sp += 80;
    }
    v128.store(o0 + off, p0);
    v128.store(o0 + off, p1, 16);
    v128.store(o1 + off, q0);
    v128.store(o1 + off, q1, 16);
    v128.store(o2 + off, u0);
    v128.store(o2 + off, u1, 16);
    v128.store(o3 + off, v0);
    v128.store(o3 + off, v1, 16);
    v128.store(o4 + off, z0);
    v128.store(o4 + off, z1, 16);
  }
  for (; n < N; n += 4) {
    const off = <usize>n << 2;
    let p0 = v128.load(bias + off);
    let q0 = p0, u0 = p0, v0 = p0, z0 = p0;
    let wr = w + off, sp = spl;
    for (let k = 0; k < K; k++) {
      const w0 = v128.load(wr);
      p0 = f32x4.add(p0, f32x4.mul(v128.load(sp), w0));
      q0 = f32x4.add(q0, f32x4.mul(v128.load(sp, 16), w0));
      u0 = f32x4.add(u0, f32x4.mul(v128.load(sp, 32), w0));
      v0 = f32x4.add(v0, f32x4.mul(v128.load(sp, 48), w0));
      z0 = f32x4.add(z0, f32x4.mul(v128.load(sp, 64), w0));
      wr += wStep;
      sp += 80;
    }
    v128.store(o0 + off, p0);
    v128.store(o1 + off, q0);
    v128.store(o2 + off, u0);
    v128.store(o3 + off, v0);
    v128.store(o4 + off, z0);
  }
}

/**
 * acc[g, 0:N] = sum_r d[r, g] x[r, 0:N] for g < Gn (overwritten): a weight
 * gradient over `rows` rows, four rows of acc by eight columns at a time.
 */
function outer(
  d: usize,
  dStride: i32,
  x: usize,
  xStride: i32,
  acc: usize,
  accStride: i32,
  rows: i32,
  Gn: i32,
  N: i32,
): void {
  const xStep = <usize>(xStride << 2), dStep = <usize>(dStride << 2), aStep = <usize>(accStride << 2);
  let g = 0;
  for (; g + 4 <= Gn; g += 4) {
    const r0 = at(acc, g * accStride), r1 = r0 + aStep, r2 = r1 + aStep, r3 = r2 + aStep;
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const off = <usize>n << 2;
      let p0 = f32x4.splat(0), p1 = p0, q0 = p0, q1 = p0, u0 = p0, u1 = p0, v0 = p0, v1 = p0;
      let xr = x + off, dr = at(d, g);
      for (let r = 0; r < rows; r++) {
        const x0 = v128.load(xr), x1 = v128.load(xr, 16);
        const d0 = f32x4.splat(load<f32>(dr)), d1 = f32x4.splat(load<f32>(dr, 4));
        const d2 = f32x4.splat(load<f32>(dr, 8)), d3 = f32x4.splat(load<f32>(dr, 12));
        p0 = f32x4.add(p0, f32x4.mul(d0, x0));
        p1 = f32x4.add(p1, f32x4.mul(d0, x1));
        q0 = f32x4.add(q0, f32x4.mul(d1, x0));
        q1 = f32x4.add(q1, f32x4.mul(d1, x1));
        u0 = f32x4.add(u0, f32x4.mul(d2, x0));
        u1 = f32x4.add(u1, f32x4.mul(d2, x1));
        v0 = f32x4.add(v0, f32x4.mul(d3, x0));
        v1 = f32x4.add(v1, f32x4.mul(d3, x1));
        xr += xStep;
        dr += dStep;
      }
      v128.store(r0 + off, p0);
      v128.store(r0 + off, p1, 16);
      v128.store(r1 + off, q0);
      v128.store(r1 + off, q1, 16);
      v128.store(r2 + off, u0);
      v128.store(r2 + off, u1, 16);
      v128.store(r3 + off, v0);
      v128.store(r3 + off, v1, 16);
    }
    for (; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = f32x4.splat(0), q0 = p0, u0 = p0, v0 = p0;
      let xr = x + off, dr = at(d, g);
      for (let r = 0; r < rows; r++) {
        const x0 = v128.load(xr);
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(dr)), x0));
        q0 = f32x4.add(q0, f32x4.mul(f32x4.splat(load<f32>(dr, 4)), x0));
        u0 = f32x4.add(u0, f32x4.mul(f32x4.splat(load<f32>(dr, 8)), x0));
        v0 = f32x4.add(v0, f32x4.mul(f32x4.splat(load<f32>(dr, 12)), x0));
        xr += xStep;
        dr += dStep;
      }
      v128.store(r0 + off, p0);
      v128.store(r1 + off, q0);
      v128.store(r2 + off, u0);
      v128.store(r3 + off, v0);
    }
  }
  for (; g < Gn; g++) {
    const r0 = at(acc, g * accStride);
    for (let n = 0; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = f32x4.splat(0);
      let xr = x + off, dr = at(d, g);
      for (let r = 0; r < rows; r++) {
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(dr)), v128.load(xr)));
        xr += xStep;
        dr += dStep;
      }
      v128.store(r0 + off, p0);
    }
  }
}

// Gate math in f32x4 (no relaxed SIMD: the same bits on every machine): exp by Cody-Waite range reduction and
// Cephes' degree-6 polynomial, tanh and the logistic built on it; tests/kernels/gates_test.ts holds them within a
// few float32 ulp of Math.exp, Math.tanh and 1 / (1 + Math.exp(-x)) over the whole range.

const LOG2E: f32 = 1.44269504088896341;
/** ln 2 split in two: the high part has 9 significant bits, so n * LN2_HI is exact for |n| <= 2^15. */
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
/** 1.5 * 2^23: y + ROUNDER - ROUNDER rounds y to an integer (half to even) for |y| < 2^22; ROUNDER_BITS its bits. */
const ROUNDER: f32 = 12582912;
const ROUNDER_BITS: i32 = 0x4b400000;

/** e^x per lane: +Inf past 88.72, 0 below -103.98 (subnormals between), NaN kept. */
@inline
function expv(x: v128): v128 {
  // pmin and pmax (one instruction each; a NaN lane is restored at the end), and n = round-half-even(c log2 e)
  // by adding and taking away 1.5 * 2^23 (exact for |n| < 2^22), whose bits then hold n: the same values as
  // f32x4.min, max, nearest and trunc_sat, in fewer instructions.
  const c = f32x4.pmax(f32x4.pmin(x, f32x4.splat(89)), f32x4.splat(-104));
  const t = f32x4.add(f32x4.mul(c, f32x4.splat(LOG2E)), f32x4.splat(ROUNDER));
  const n = f32x4.sub(t, f32x4.splat(ROUNDER));
  const r = f32x4.sub(f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n in two factors, each a normal float for n in [-150, 128], so that overflow and subnormals round once.
  const ni = i32x4.sub(t, i32x4.splat(ROUNDER_BITS));
  const n1 = i32x4.shr_s(ni, 1), n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23), s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  const e = f32x4.mul(f32x4.mul(p, s1), s2);
  return v128.bitselect(x, e, f32x4.ne(x, x));
}

const SIGN: v128 = i32x4.splat(0x80000000);

/** tanh per lane: an odd polynomial below 0.625 (Cephes), 1 - 2 / (e^2|x| + 1) above; the sign and NaN kept. */
@inline
function tanhv(x: v128): v128 {
  const a = v128.andnot(x, SIGN);
  const z = f32x4.mul(a, a);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), a), a);
  const a10 = f32x4.pmin(a, f32x4.splat(10));
  const e = expv(f32x4.add(a10, a10));
  const large = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e, f32x4.splat(1))));
  const t = v128.bitselect(small, large, f32x4.lt(a, f32x4.splat(0.625)));
  return v128.bitselect(x, v128.or(t, v128.and(x, SIGN)), f32x4.ne(x, x));
}

/** The logistic 1 / (1 + e^-x) per lane, as e / (1 + e) with e = e^x below 0 (so subnormals stay), NaN kept. */
@inline
function sigmoidv(x: v128): v128 {
  const e = expv(v128.or(x, SIGN));
  const d = f32x4.add(f32x4.splat(1), e);
  const pos = f32x4.div(f32x4.splat(1), d), neg = f32x4.div(e, d);
  return v128.bitselect(neg, pos, f32x4.lt(x, f32x4.splat(0)));
}

/** Applies `expv` (fn 0), `tanhv` (1) or `sigmoidv` (2) in place to n floats at `at` (n a multiple of 4): for tests. */
export function gateMath(fn: i32, at: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const p = at + (<usize>i << 2), x = v128.load(p);
    v128.store(p, fn == 0 ? expv(x) : fn == 1 ? tanhv(x) : sigmoidv(x));
  }
}

@inline
function sigmoid64(x: f64): f64 {
  return 1 / (1 + Math.exp(-x));
}

/** Element i of an f32 array, widened: the gate arithmetic runs in f64 and stores f32. */
@inline
function ldd(base: usize, i: i32): f64 {
  return <f64>load<f32>(base + (<usize>i << 2));
}

@inline
function sd(base: usize, i: i32, v: f64): void {
  store<f32>(base + (<usize>i << 2), <f32>v);
}

/** Stores the first min(n, 4) lanes of v at p. */
@inline
function storeN(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * out[0:n] = sigmoid(x[0:n] + h[0:n]) (`fn` 0) or tanh (`fn` 1), four at a time, lanes past n not stored: one
 * gate function an iteration, so that the core overlaps its chains from one iteration to the next (the whole
 * cell in one iteration was bound by its latency). `lanes`: x, h and out are the replica-lanes path's vectors,
 * n of them.
 */
function gateBlock(x: usize, h: usize, out: usize, n: i32, fn: i32, lanes: bool): void {
  if (lanes) {
    for (let j = 0; j < n; j++) {
      const v = f32x4.add(v128.load(vat(x, j)), v128.load(vat(h, j)));
      v128.store(vat(out, j), fn == 0 ? sigmoidv(v) : tanhv(v));
    }
    return;
  }
  for (let j = 0; j < n; j += 4) {
    const v = f32x4.add(v128.load(at(x, j)), v128.load(at(h, j)));
    storeN(at(out, j), fn == 0 ? sigmoidv(v) : tanhv(v), n - j);
  }
}

/** Copies rows x cols floats from src (row stride srcStride) to dst (row stride dstStride): four at a time. */
function copy2d(src: usize, srcStride: i32, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const from = at(src, r * srcStride), to = at(dst, r * dstStride);
    let c = 0;
    for (; c + 4 <= cols; c += 4) v128.store(at(to, c), v128.load(at(from, c)));
    for (; c < cols; c++) st(to, c, ld(from, c));
  }
}

/**
 * dst[c, r] = src[r, c] for a rows x cols src (row stride cols) into dst with row stride dstStride: four by four
 * blocks transposed in registers (eight shuffles), the edges one float at a time.
 */
function transpose(src: usize, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  const r4 = rows & ~3, c4 = cols & ~3;
  for (let r = 0; r < r4; r += 4) {
    const s0 = at(src, r * cols), s1 = at(s0, cols), s2 = at(s1, cols), s3 = at(s2, cols);
    for (let c = 0; c < c4; c += 4) {
      const a0 = v128.load(at(s0, c)), a1 = v128.load(at(s1, c)), a2 = v128.load(at(s2, c)), a3 = v128.load(at(s3, c));
      const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5), t1 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(a0, a1, 2, 6, 3, 7), t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
      const d = at(dst, c * dstStride + r);
      v128.store(d, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
      v128.store(at(d, dstStride), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
      v128.store(at(d, 2 * dstStride), i32x4.shuffle(t2, t3, 0, 1, 4, 5));
      v128.store(at(d, 3 * dstStride), i32x4.shuffle(t2, t3, 2, 3, 6, 7));
    }
    for (let c = c4; c < cols; c++) {
      for (let i = 0; i < 4; i++) st(dst, c * dstStride + r + i, ld(src, (r + i) * cols + c));
    }
  }
  for (let r = r4; r < rows; r++) {
    for (let c = 0; c < cols; c++) st(dst, c * dstStride + r, ld(src, r * cols + c));
  }
}

/** Replica s's slice of variable v in a parameter-shaped region. */
@inline
function slice(region: usize, v: i32, S: i32, s: i32): usize {
  return at(region, varOffset(v, S) + s * varSize(v));
}

// The replica-lanes path, for small H (H <= LANES_MAX_H): four replicas side by side in the four lanes of every
// f32x4, so that at H 4 (where one replica's rows fill a vector or less and per-call overheads dominate) every
// operation has its lanes full and no shuffles: the same arithmetic as the per-replica path above, replica by
// replica, with each replica's quantities laid out as [..., 4] (a lane a replica). A group's parameters are
// gathered once per call from the [S, ...] layout and its gradients scattered back; S not a multiple of 4 pads
// the last group with copies of replica S - 1 whose results are not stored. Offsets below are in vectors (16 bytes).

/** The largest H the replica-lanes path takes (above it, one replica's rows already fill the vectors). */
const LANES_MAX_H = 8;
let lanes = false;
let vLayer = 0, vWih = 0, vWhh = 0, vBih = 0, vBhh = 0, vHs = 0, vXp = 0, vActs = 0, vCs = 0, vAux = 0;
let vHw = 0, vHb = 0, vX0 = 0, vY = 0, vHh = 0, vDz = 0, vDY = 0, vDXp = 0, vDHh = 0, vDh = 0, vDc = 0, vDhz = 0;
let vGW = 0, vGBi = 0, vGBh = 0, vGHw = 0, vTmp = 0, vTotal = 0;

function setLaneDims(): void {
  let o = 0;
  vWih = o;
  o += G * Km;
  vWhh = o;
  o += G * H;
  vBih = o;
  o += G;
  vBhh = o;
  o += G;
  vHs = o;
  o += (T + 1) * B * H;
  vXp = o;
  o += R * G;
  vActs = o;
  o += cell == RELU ? 0 : R * G;
  vCs = o;
  o += cell == LSTM ? (T + 1) * B * H : 0;
  vAux = o;
  o += cell == RELU ? 0 : R * H;
  vLayer = o;
  o = L * vLayer;
  vHw = o;
  o += H;
  vHb = o;
  o += 1;
  vX0 = o;
  o += R * K0;
  vY = o;
  o += R;
  vHh = o;
  o += B * G;
  vDz = o;
  o += R;
  vDY = o;
  o += R * H;
  vDXp = o;
  o += R * G;
  vDHh = o;
  o += cell == GRU ? R * G : 0;
  if (cell != GRU) vDHh = vDXp;
  vDh = o;
  o += B * H;
  vDc = o;
  o += B * H;
  vDhz = o;
  o += B * H;
  vGW = o;
  o += G * Km;
  vGBi = o;
  o += G;
  vGBh = o;
  o += G;
  vGHw = o;
  o += H;
  vTmp = o;
  o += 3;
  vTotal = o;
}

@inline
function vat(base: usize, i: i32): usize {
  return base + (<usize>i << 4);
}

/**
 * Lane l of vectors dst[0:n] = replica s's floats src[s * n : (s + 1) * n] for the group of replicas s0 .. s0 + 3
 * (past S - 1, replica S - 1's): `src` a [S, n] region.
 */
function gatherLanes(src: usize, dst: usize, n: i32, s0: i32, S: i32): void {
  for (let l = 0; l < 4; l++) {
    const from = at(src, min(s0 + l, S - 1) * n), to = dst + (<usize>l << 2);
    for (let i = 0; i < n; i++) store<f32>(to + (<usize>i << 4), ld(from, i));
  }
}

/** The inverse of gatherLanes for the replicas that exist: replica s's floats dst[s * n : (s + 1) * n] = lane l. */
function scatterLanes(src: usize, dst: usize, n: i32, s0: i32, S: i32): void {
  for (let l = 0; l < 4 && s0 + l < S; l++) {
    const from = src + (<usize>l << 2), to = at(dst, (s0 + l) * n);
    for (let i = 0; i < n; i++) st(to, i, load<f32>(from + (<usize>i << 4)));
  }
}

/**
 * out[r, n] = bias[n] + sum_k a[r, k] w[n, k] for r < rows, n < N, every element a vector of four replicas'
 * lanes: `w` [N, K] as the parameters hold it (PyTorch's [G, K]), four outputs at a time (four independent sums).
 */
function mmLanes(a: usize, aStride: i32, w: usize, K: i32, bias: usize, out: usize, outStride: i32, rows: i32, N: i32): void {
  const wRow = <usize>K << 4;
  for (let r = 0; r < rows; r++) {
    const ar = vat(a, r * aStride), or = vat(out, r * outStride);
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      let p0 = v128.load(vat(bias, n)), p1 = v128.load(vat(bias, n + 1));
      let p2 = v128.load(vat(bias, n + 2)), p3 = v128.load(vat(bias, n + 3));
      let w0 = vat(w, n * K);
      for (let k = 0; k < K; k++) {
        const x = v128.load(vat(ar, k)), wk = w0 + (<usize>k << 4);
        p0 = f32x4.add(p0, f32x4.mul(x, v128.load(wk)));
        p1 = f32x4.add(p1, f32x4.mul(x, v128.load(wk + wRow)));
        p2 = f32x4.add(p2, f32x4.mul(x, v128.load(wk + 2 * wRow)));
        p3 = f32x4.add(p3, f32x4.mul(x, v128.load(wk + 3 * wRow)));
      }
      v128.store(vat(or, n), p0);
      v128.store(vat(or, n + 1), p1);
      v128.store(vat(or, n + 2), p2);
      v128.store(vat(or, n + 3), p3);
    }
    for (; n < N; n++) {
      let p = v128.load(vat(bias, n));
      const wn = vat(w, n * K);
      for (let k = 0; k < K; k++) p = f32x4.add(p, f32x4.mul(v128.load(vat(ar, k)), v128.load(vat(wn, k))));
      v128.store(vat(or, n), p);
    }
  }
}

/** out[r, k] = sum_n d[r, n] w[n, k] for r < rows, k < K (`w` [N, K]), vectors of lanes; four k at a time. */
function mmTLanes(d: usize, dStride: i32, w: usize, K: i32, out: usize, outStride: i32, rows: i32, N: i32): void {
  const wRow = <usize>K << 4;
  for (let r = 0; r < rows; r++) {
    const dr = vat(d, r * dStride), or = vat(out, r * outStride);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      let p0 = f32x4.splat(0), p1 = p0, p2 = p0, p3 = p0;
      let wn = vat(w, k);
      for (let n = 0; n < N; n++) {
        const x = v128.load(vat(dr, n));
        p0 = f32x4.add(p0, f32x4.mul(x, v128.load(wn)));
        p1 = f32x4.add(p1, f32x4.mul(x, v128.load(wn, 16)));
        p2 = f32x4.add(p2, f32x4.mul(x, v128.load(wn, 32)));
        p3 = f32x4.add(p3, f32x4.mul(x, v128.load(wn, 48)));
        wn += wRow;
      }
      v128.store(vat(or, k), p0);
      v128.store(vat(or, k + 1), p1);
      v128.store(vat(or, k + 2), p2);
      v128.store(vat(or, k + 3), p3);
    }
    for (; k < K; k++) {
      let p = f32x4.splat(0);
      let wn = vat(w, k);
      for (let n = 0; n < N; n++) {
        p = f32x4.add(p, f32x4.mul(v128.load(vat(dr, n)), v128.load(wn)));
        wn += wRow;
      }
      v128.store(vat(or, k), p);
    }
  }
}

/** acc[g, n] = sum_r d[r, g] x[r, n] for g < Gn, n < N (overwritten), vectors of lanes; four n at a time. */
function outerLanes(d: usize, dStride: i32, x: usize, xStride: i32, acc: usize, rows: i32, Gn: i32, N: i32): void {
  const dStep = <usize>dStride << 4, xStep = <usize>xStride << 4;
  // Two g by four n at a time: eight sums in flight.
  let g = 0;
  for (; g + 2 <= Gn; g += 2) {
    const a0 = vat(acc, g * N), a1 = vat(acc, (g + 1) * N);
    for (let n = 0; n + 4 <= N; n += 4) {
      let p0 = f32x4.splat(0), p1 = p0, p2 = p0, p3 = p0, q0 = p0, q1 = p0, q2 = p0, q3 = p0;
      let dr = vat(d, g), xr = vat(x, n);
      for (let r = 0; r < rows; r++) {
        const d0 = v128.load(dr), d1 = v128.load(dr, 16);
        const x0 = v128.load(xr), x1 = v128.load(xr, 16), x2 = v128.load(xr, 32), x3 = v128.load(xr, 48);
        p0 = f32x4.add(p0, f32x4.mul(d0, x0));
        p1 = f32x4.add(p1, f32x4.mul(d0, x1));
        p2 = f32x4.add(p2, f32x4.mul(d0, x2));
        p3 = f32x4.add(p3, f32x4.mul(d0, x3));
        q0 = f32x4.add(q0, f32x4.mul(d1, x0));
        q1 = f32x4.add(q1, f32x4.mul(d1, x1));
        q2 = f32x4.add(q2, f32x4.mul(d1, x2));
        q3 = f32x4.add(q3, f32x4.mul(d1, x3));
        dr += dStep;
        xr += xStep;
      }
      v128.store(vat(a0, n), p0);
      v128.store(vat(a0, n + 1), p1);
      v128.store(vat(a0, n + 2), p2);
      v128.store(vat(a0, n + 3), p3);
      v128.store(vat(a1, n), q0);
      v128.store(vat(a1, n + 1), q1);
      v128.store(vat(a1, n + 2), q2);
      v128.store(vat(a1, n + 3), q3);
    }
  }
  for (; g < Gn; g++) {
    const ag = vat(acc, g * N);
    for (let n = 0; n + 4 <= N; n += 4) {
      let p0 = f32x4.splat(0), p1 = p0, p2 = p0, p3 = p0;
      let dr = vat(d, g), xr = vat(x, n);
      for (let r = 0; r < rows; r++) {
        const dv = v128.load(dr);
        p0 = f32x4.add(p0, f32x4.mul(dv, v128.load(xr)));
        p1 = f32x4.add(p1, f32x4.mul(dv, v128.load(xr, 16)));
        p2 = f32x4.add(p2, f32x4.mul(dv, v128.load(xr, 32)));
        p3 = f32x4.add(p3, f32x4.mul(dv, v128.load(xr, 48)));
        dr += dStep;
        xr += xStep;
      }
      v128.store(vat(ag, n), p0);
      v128.store(vat(ag, n + 1), p1);
      v128.store(vat(ag, n + 2), p2);
      v128.store(vat(ag, n + 3), p3);
    }
  }
  // The columns past a multiple of 4 (all of them at K 1): four g at a time, so four sums are in flight.
  const n0 = N & ~3;
  for (let n = n0; n < N; n++) {
    let g = 0;
    for (; g + 4 <= Gn; g += 4) {
      let p0 = f32x4.splat(0), p1 = p0, p2 = p0, p3 = p0;
      let dr = vat(d, g), xr = vat(x, n);
      for (let r = 0; r < rows; r++) {
        const xv = v128.load(xr);
        p0 = f32x4.add(p0, f32x4.mul(v128.load(dr), xv));
        p1 = f32x4.add(p1, f32x4.mul(v128.load(dr, 16), xv));
        p2 = f32x4.add(p2, f32x4.mul(v128.load(dr, 32), xv));
        p3 = f32x4.add(p3, f32x4.mul(v128.load(dr, 48), xv));
        dr += dStep;
        xr += xStep;
      }
      v128.store(vat(acc, g * N + n), p0);
      v128.store(vat(acc, (g + 1) * N + n), p1);
      v128.store(vat(acc, (g + 2) * N + n), p2);
      v128.store(vat(acc, (g + 3) * N + n), p3);
    }
    for (; g < Gn; g++) {
      let p = f32x4.splat(0);
      let dr = vat(d, g), xr = vat(x, n);
      for (let r = 0; r < rows; r++) {
        p = f32x4.add(p, f32x4.mul(v128.load(dr), v128.load(xr)));
        dr += dStep;
        xr += xStep;
      }
      v128.store(vat(acc, g * N + n), p);
    }
  }
}

/**
 * sum[g] = sum_r d[r, g] for g < Gn (vectors of lanes, each lane summed in f64 in row order and rounded once):
 * four g at a time, eight f64x2 sums in flight rather than two waiting on the add's latency.
 */
function colSumLanes(d: usize, dStride: i32, out: usize, rows: i32, Gn: i32): void {
  const dStep = <usize>dStride << 4;
  let g = 0;
  for (; g + 4 <= Gn; g += 4) {
    let l0 = f64x2.splat(0), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
    let dr = vat(d, g);
    for (let r = 0; r < rows; r++) {
      const v0 = v128.load(dr), v1 = v128.load(dr, 16), v2 = v128.load(dr, 32), v3 = v128.load(dr, 48);
      l0 = f64x2.add(l0, f64x2.promote_low_f32x4(v0));
      h0 = f64x2.add(h0, f64x2.promote_low_f32x4(i32x4.shuffle(v0, v0, 2, 3, 0, 1)));
      l1 = f64x2.add(l1, f64x2.promote_low_f32x4(v1));
      h1 = f64x2.add(h1, f64x2.promote_low_f32x4(i32x4.shuffle(v1, v1, 2, 3, 0, 1)));
      l2 = f64x2.add(l2, f64x2.promote_low_f32x4(v2));
      h2 = f64x2.add(h2, f64x2.promote_low_f32x4(i32x4.shuffle(v2, v2, 2, 3, 0, 1)));
      l3 = f64x2.add(l3, f64x2.promote_low_f32x4(v3));
      h3 = f64x2.add(h3, f64x2.promote_low_f32x4(i32x4.shuffle(v3, v3, 2, 3, 0, 1)));
      dr += dStep;
    }
    v128.store(vat(out, g), i32x4.shuffle(f32x4.demote_f64x2_zero(l0), f32x4.demote_f64x2_zero(h0), 0, 1, 4, 5));
    v128.store(vat(out, g + 1), i32x4.shuffle(f32x4.demote_f64x2_zero(l1), f32x4.demote_f64x2_zero(h1), 0, 1, 4, 5));
    v128.store(vat(out, g + 2), i32x4.shuffle(f32x4.demote_f64x2_zero(l2), f32x4.demote_f64x2_zero(h2), 0, 1, 4, 5));
    v128.store(vat(out, g + 3), i32x4.shuffle(f32x4.demote_f64x2_zero(l3), f32x4.demote_f64x2_zero(h3), 0, 1, 4, 5));
  }
  for (; g < Gn; g++) {
    let lo = f64x2.splat(0), hi = f64x2.splat(0);
    let dr = vat(d, g);
    for (let r = 0; r < rows; r++) {
      const v = v128.load(dr);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
      dr += dStep;
    }
    v128.store(vat(out, g), i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
  }
}

/** ln u per lane for u in [1, 2] (Cephes' logf: within a float32 ulp or two), NaN kept. */
@inline
function log12v(u: v128): v128 {
  const big = f32x4.gt(u, f32x4.splat(1.41421356));
  const m = v128.bitselect(f32x4.mul(u, f32x4.splat(0.5)), u, big);
  const k = v128.and(big, f32x4.splat(1));
  const f = f32x4.sub(m, f32x4.splat(1));
  const z = f32x4.mul(f, f);
  let p = f32x4.splat(7.0376836292e-2);
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(-1.151461031e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.167699874e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(-1.2420140846e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.4249322787e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(-1.6668057665e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(2.0000714765e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(-2.4999993993e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(3.3333331174e-1));
  let y = f32x4.mul(f32x4.mul(p, f), z);
  y = f32x4.add(y, f32x4.mul(k, f32x4.splat(LN2_LO)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(f, y), f32x4.mul(k, f32x4.splat(LN2_HI)));
}

/**
 * The loss passes over n vectors of logits at `zs` (overwritten by dz = (sigmoid(z) - y) / R) and targets at
 * `ys`, lane-wise: four short passes over the vectors, each a chain that the core overlaps from vector to
 * vector (one pass of the whole chain, exp then log then a division, was bound by its latency): e = exp(-|z|)
 * (at `eb`), log1p(e) (at `lpb`), then the loss terms, hits and dz. Writes to `out` the loss terms' sums in f64
 * (lanes 0-1, then 2-3: two f64x2) and the hits (f32x4). Lane l of vector v counts only where 4 v + l < valid.
 */
function lossPasses(zs: usize, ys: usize, eb: usize, lpb: usize, n: i32, valid: i32, perRow: v128, out: usize): void {
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  for (let v = 0; v < n; v++) v128.store(vat(eb, v), expv(v128.or(v128.load(vat(zs, v)), SIGN)));
  for (let v = 0; v < n; v++) {
    const e = v128.load(vat(eb, v)), u = f32x4.add(one, e);
    // log1p(e) = ln(u) e / (u - 1), exact where u rounds to 1.
    const lp = v128.bitselect(e, f32x4.div(f32x4.mul(log12v(u), e), f32x4.sub(u, one)), f32x4.eq(u, one));
    v128.store(vat(lpb, v), lp);
  }
  let sumLo = f64x2.splat(0), sumHi = f64x2.splat(0), hits = zero;
  let index = i32x4(0, 1, 2, 3);
  const bound = i32x4.splat(valid), four = i32x4.splat(4);
  for (let v = 0; v < n; v++) {
    const z = v128.load(vat(zs, v)), e = v128.load(vat(eb, v)), u = f32x4.add(one, e);
    const target = v128.load(vat(ys, v)), counts = i32x4.lt_s(index, bound);
    const term = v128.and(
      f32x4.add(f32x4.sub(f32x4.max(z, zero), f32x4.mul(z, target)), v128.load(vat(lpb, v))),
      counts,
    );
    sumLo = f64x2.add(sumLo, f64x2.promote_low_f32x4(term));
    sumHi = f64x2.add(sumHi, f64x2.promote_low_f32x4(i32x4.shuffle(term, term, 2, 3, 0, 1)));
    hits = f32x4.add(hits, v128.and(v128.and(f32x4.eq(v128.and(f32x4.gt(z, zero), one), target), one), counts));
    const inv = f32x4.div(one, u);
    const sig = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(z, zero));
    v128.store(vat(zs, v), f32x4.mul(f32x4.sub(sig, target), perRow));
    index = i32x4.add(index, four);
  }
  v128.store(out, sumLo);
  v128.store(out, sumHi, 16);
  v128.store(out, hits, 32);
}

/** `gradients` on the replica-lanes path (see above `setLaneDims`): the same outputs, four replicas at a time. */
function gradientsLanes(
  S: i32,
  params: usize,
  grads: usize,
  x: usize,
  y: usize,
  stateIn: usize,
  stateOut: usize,
  loss: usize,
  right: usize,
  scratch: usize,
): void {
  const hw = vat(scratch, vHw), hb = vat(scratch, vHb), x0 = vat(scratch, vX0), yv = vat(scratch, vY);
  const hh = vat(scratch, vHh), dz = vat(scratch, vDz), dY = vat(scratch, vDY), dXp = vat(scratch, vDXp);
  const dHh = vat(scratch, vDHh), dh = vat(scratch, vDh), dc = vat(scratch, vDc), dhz = vat(scratch, vDhz);
  const gW = vat(scratch, vGW), gBi = vat(scratch, vGBi), gBh = vat(scratch, vGBh), gHw = vat(scratch, vGHw);
  const one = f32x4.splat(1), zero = f32x4.splat(0), perRow = f32x4.splat(<f32>(<f64>1 / <f64>R));
  for (let s0 = 0; s0 < S; s0 += 4) {
    // The group's inputs and targets, time-major: row t * B + b.
    for (let l = 0; l < 4; l++) {
      const s = min(s0 + l, S - 1), lane = <usize>l << 2;
      for (let b = 0; b < B; b++) {
        const xb = at(x, (s * B + b) * T * K0), yb = at(y, (s * B + b) * T);
        let xd = vat(x0, b * K0) + lane, yd = vat(yv, b) + lane;
        const xStep = <usize>(B * K0) << 4, yStep = <usize>B << 4;
        if (K0 == 1) {
          for (let t = 0; t < T; t++) {
            store<f32>(xd, ld(xb, t));
            store<f32>(yd, ld(yb, t));
            xd += xStep;
            yd += yStep;
          }
          continue;
        }
        for (let t = 0; t < T; t++) {
          for (let k = 0; k < K0; k++) store<f32>(xd + (<usize>k << 4), ld(xb, t * K0 + k));
          store<f32>(yd, ld(yb, t));
          xd += xStep;
          yd += yStep;
        }
      }
    }
    // Forward, layer by layer.
    for (let l = 0; l < L; l++) {
      const lb = vat(scratch, l * vLayer), K = l == 0 ? K0 : H;
      const wih = vat(lb, vWih), whh = vat(lb, vWhh), bih = vat(lb, vBih), bhh = vat(lb, vBhh);
      const hs = vat(lb, vHs), xp = vat(lb, vXp), acts = vat(lb, vActs), cs = vat(lb, vCs), aux = vat(lb, vAux);
      gatherLanes(at(params, varOffset(4 * l, S)), wih, G * K, s0, S);
      gatherLanes(at(params, varOffset(4 * l + 1, S)), whh, G * H, s0, S);
      gatherLanes(at(params, varOffset(4 * l + 2, S)), bih, G, s0, S);
      gatherLanes(at(params, varOffset(4 * l + 3, S)), bhh, G, s0, S);
      gatherLanes(at(stateIn, l * S * B * H), hs, B * H, s0, S);
      if (cell == LSTM) gatherLanes(at(stateIn, (L + l) * S * B * H), cs, B * H, s0, S);
      const input = l == 0 ? x0 : vat(scratch, (l - 1) * vLayer + vHs + B * H);
      mmLanes(input, K, wih, K, bih, xp, G, R, G);
      for (let t = 0; t < T; t++) {
        mmLanes(vat(hs, t * B * H), H, whh, H, bhh, hh, G, B, G);
        for (let b = 0; b < B; b++) {
          const r = t * B + b, xr = vat(xp, r * G), hr = vat(hh, b * G);
          const hPrev = vat(hs, r * H), hNext = vat(hs, (r + B) * H);
          if (cell == RELU) {
            for (let j = 0; j < H; j++) {
              const v = f32x4.add(v128.load(vat(xr, j)), v128.load(vat(hr, j)));
              v128.store(vat(hNext, j), f32x4.max(v, zero));
            }
          } else if (cell == LSTM) {
            const ar = vat(acts, r * G), cPrev = vat(cs, r * H), cNext = vat(cs, (r + B) * H), tc = vat(aux, r * H);
            gateBlock(xr, hr, ar, 2 * H, 0, true);
            gateBlock(vat(xr, 2 * H), vat(hr, 2 * H), vat(ar, 2 * H), H, 1, true);
            gateBlock(vat(xr, 3 * H), vat(hr, 3 * H), vat(ar, 3 * H), H, 0, true);
            for (let j = 0; j < H; j++) {
              const i = v128.load(vat(ar, j)), f = v128.load(vat(ar, H + j));
              const g = v128.load(vat(ar, 2 * H + j)), o = v128.load(vat(ar, 3 * H + j));
              const c = f32x4.add(f32x4.mul(f, v128.load(vat(cPrev, j))), f32x4.mul(i, g));
              const tanhC = tanhv(c);
              v128.store(vat(cNext, j), c);
              v128.store(vat(tc, j), tanhC);
              v128.store(vat(hNext, j), f32x4.mul(o, tanhC));
            }
          } else {
            const ar = vat(acts, r * G), hnr = vat(aux, r * H);
            gateBlock(xr, hr, ar, 2 * H, 0, true);
            for (let j = 0; j < H; j++) {
              const reset = v128.load(vat(ar, j)), update = v128.load(vat(ar, H + j));
              const hn = v128.load(vat(hr, 2 * H + j));
              const cand = tanhv(f32x4.add(v128.load(vat(xr, 2 * H + j)), f32x4.mul(reset, hn)));
              v128.store(vat(ar, 2 * H + j), cand);
              v128.store(vat(hnr, j), hn);
              const keep = f32x4.mul(update, v128.load(vat(hPrev, j)));
              v128.store(vat(hNext, j), f32x4.add(f32x4.mul(f32x4.sub(one, update), cand), keep));
            }
          }
        }
      }
      scatterLanes(vat(hs, T * B * H), at(stateOut, l * S * B * H), B * H, s0, S);
      if (cell == LSTM) scatterLanes(vat(cs, T * B * H), at(stateOut, (L + l) * S * B * H), B * H, s0, S);
    }
    // The head, the loss (mean BCE with logits, summed per lane in f64) and dz = (sigmoid(z) - y) / R per logit.
    gatherLanes(at(params, varOffset(4 * L, S)), hw, H, s0, S);
    gatherLanes(at(params, varOffset(4 * L + 1, S)), hb, 1, s0, S);
    const top = vat(scratch, (L - 1) * vLayer + vHs + B * H);
    const bias = v128.load(hb);
    for (let r = 0; r < R; r++) {
      const hr = vat(top, r * H);
      let z = bias;
      for (let j = 0; j < H; j++) z = f32x4.add(z, f32x4.mul(v128.load(vat(hr, j)), v128.load(vat(hw, j))));
      v128.store(vat(dz, r), z);
    }
    // e and log1p(e) in dY and dXp, both free until the backward.
    const sums = vat(scratch, vTmp);
    lossPasses(dz, yv, dY, dXp, R, 4 * R, perRow, sums);
    const sumLo = v128.load(sums), sumHi = v128.load(sums, 16), hits = v128.load(sums, 32);
    const rows64 = f64x2.splat(<f64>R);
    const meanLoss = i32x4.shuffle(
      f32x4.demote_f64x2_zero(f64x2.div(sumLo, rows64)),
      f32x4.demote_f64x2_zero(f64x2.div(sumHi, rows64)),
      0,
      1,
      4,
      5,
    );
    v128.store(vat(scratch, vTmp), meanLoss);
    v128.store(vat(scratch, vTmp + 1), hits);
    scatterLanes(vat(scratch, vTmp), loss, 1, s0, S);
    scatterLanes(vat(scratch, vTmp + 1), right, 1, s0, S);
    // Head gradients, and the gradient reaching the top layer's outputs.
    for (let j = 0; j < H; j++) v128.store(vat(gHw, j), zero);
    for (let r = 0; r < R; r++) {
      const d = v128.load(vat(dz, r)), hr = vat(top, r * H), dyr = vat(dY, r * H);
      for (let j = 0; j < H; j++) {
        v128.store(vat(gHw, j), f32x4.add(v128.load(vat(gHw, j)), f32x4.mul(d, v128.load(vat(hr, j)))));
        v128.store(vat(dyr, j), f32x4.mul(d, v128.load(vat(hw, j))));
      }
    }
    colSumLanes(dz, 1, vat(scratch, vTmp), R, 1);
    scatterLanes(gHw, at(grads, varOffset(4 * L, S)), H, s0, S);
    scatterLanes(vat(scratch, vTmp), at(grads, varOffset(4 * L + 1, S)), 1, s0, S);
    // Backward, layer by layer from the top: BPTT inside the chunk, no gradient into the state in.
    for (let l = L - 1; l >= 0; l--) {
      const lb = vat(scratch, l * vLayer), K = l == 0 ? K0 : H;
      const hs = vat(lb, vHs), acts = vat(lb, vActs), cs = vat(lb, vCs), aux = vat(lb, vAux);
      const whh = vat(lb, vWhh);
      memory.fill(dh, 0, <usize>(B * H) << 4);
      memory.fill(dc, 0, <usize>(B * H) << 4);
      for (let t = T - 1; t >= 0; t--) {
        for (let b = 0; b < B; b++) {
          const r = t * B + b, dyr = vat(dY, r * H), dhr = vat(dh, b * H);
          const dxr = vat(dXp, r * G), dwr = vat(dHh, r * G), hNext = vat(hs, (r + B) * H);
          if (cell == RELU) {
            for (let j = 0; j < H; j++) {
              const d = f32x4.add(v128.load(vat(dhr, j)), v128.load(vat(dyr, j)));
              v128.store(vat(dxr, j), v128.and(d, f32x4.gt(v128.load(vat(hNext, j)), zero)));
            }
          } else if (cell == LSTM) {
            const ar = vat(acts, r * G), cPrev = vat(cs, r * H), tc = vat(aux, r * H), dcr = vat(dc, b * H);
            for (let j = 0; j < H; j++) {
              const i = v128.load(vat(ar, j)), f = v128.load(vat(ar, H + j));
              const g = v128.load(vat(ar, 2 * H + j)), o = v128.load(vat(ar, 3 * H + j));
              const tanhC = v128.load(vat(tc, j));
              const dhStep = f32x4.add(v128.load(vat(dhr, j)), v128.load(vat(dyr, j)));
              const dcStep = f32x4.add(
                v128.load(vat(dcr, j)),
                f32x4.mul(f32x4.mul(dhStep, o), f32x4.sub(one, f32x4.mul(tanhC, tanhC))),
              );
              v128.store(vat(dxr, j), f32x4.mul(f32x4.mul(f32x4.mul(dcStep, g), i), f32x4.sub(one, i)));
              const dF = f32x4.mul(f32x4.mul(f32x4.mul(dcStep, v128.load(vat(cPrev, j))), f), f32x4.sub(one, f));
              v128.store(vat(dxr, H + j), dF);
              v128.store(vat(dxr, 2 * H + j), f32x4.mul(f32x4.mul(dcStep, i), f32x4.sub(one, f32x4.mul(g, g))));
              v128.store(vat(dxr, 3 * H + j), f32x4.mul(f32x4.mul(f32x4.mul(dhStep, tanhC), o), f32x4.sub(one, o)));
              v128.store(vat(dcr, j), f32x4.mul(dcStep, f));
            }
          } else {
            const ar = vat(acts, r * G), hnr = vat(aux, r * H), hPrev = vat(hs, r * H), dzr = vat(dhz, b * H);
            for (let j = 0; j < H; j++) {
              const reset = v128.load(vat(ar, j)), update = v128.load(vat(ar, H + j));
              const n = v128.load(vat(ar, 2 * H + j)), hn = v128.load(vat(hnr, j));
              const dhStep = f32x4.add(v128.load(vat(dhr, j)), v128.load(vat(dyr, j)));
              const dn = f32x4.mul(f32x4.mul(dhStep, f32x4.sub(one, update)), f32x4.sub(one, f32x4.mul(n, n)));
              const du = f32x4.mul(
                f32x4.mul(f32x4.mul(dhStep, f32x4.sub(v128.load(vat(hPrev, j)), n)), update),
                f32x4.sub(one, update),
              );
              const dr = f32x4.mul(f32x4.mul(f32x4.mul(dn, hn), reset), f32x4.sub(one, reset));
              v128.store(vat(dxr, j), dr);
              v128.store(vat(dxr, H + j), du);
              v128.store(vat(dxr, 2 * H + j), dn);
              v128.store(vat(dwr, j), dr);
              v128.store(vat(dwr, H + j), du);
              v128.store(vat(dwr, 2 * H + j), f32x4.mul(dn, reset));
              v128.store(vat(dzr, j), f32x4.mul(dhStep, update));
            }
          }
        }
        // The gradient reaching step t - 1 through W_hh (and for GRU directly, through z h_{t-1}).
        mmTLanes(vat(dHh, t * B * G), G, whh, H, dh, H, B, G);
        if (cell == GRU) {
          for (let i = 0; i < B * H; i++) {
            v128.store(vat(dh, i), f32x4.add(v128.load(vat(dh, i)), v128.load(vat(dhz, i))));
          }
        }
      }
      // Weight and bias gradients over every step and row.
      const input = l == 0 ? x0 : vat(scratch, (l - 1) * vLayer + vHs + B * H);
      outerLanes(dHh, G, hs, H, gW, R, G, H);
      scatterLanes(gW, at(grads, varOffset(4 * l + 1, S)), G * H, s0, S);
      outerLanes(dXp, G, input, K, gW, R, G, K);
      scatterLanes(gW, at(grads, varOffset(4 * l, S)), G * K, s0, S);
      colSumLanes(dXp, G, gBi, R, G);
      colSumLanes(dHh, G, gBh, R, G);
      scatterLanes(gBi, at(grads, varOffset(4 * l + 2, S)), G, s0, S);
      scatterLanes(gBh, at(grads, varOffset(4 * l + 3, S)), G, s0, S);
      // The gradient reaching the layer below's outputs: dXp W_ih.
      if (l > 0) mmTLanes(dXp, G, vat(lb, vWih), H, dY, H, R, G);
    }
  }
}

/**
 * Forward and backward of every replica: writes each replica's loss (mean
 * BCE with logits), right digits, gradients (the model's variable layout) and
 * final state. `scratch` holds `scratchFloats(...)` floats.
 */
export function gradients(
  cell_: i32,
  S: i32,
  B_: i32,
  T_: i32,
  H_: i32,
  L_: i32,
  K0_: i32,
  params: usize,
  grads: usize,
  x: usize,
  y: usize,
  stateIn: usize,
  stateOut: usize,
  loss: usize,
  right: usize,
  scratch: usize,
): void {
  setDims(cell_, B_, T_, H_, L_, K0_);
  if (lanes) {
    gradientsLanes(S, params, grads, x, y, stateIn, stateOut, loss, right, scratch);
    return;
  }
  memory.fill(scratch, 0, <usize>totalFloats << 2);
  spl = at(scratch, oSpl);
  const zero = at(scratch, oZero), hh = at(scratch, oHh), dz = at(scratch, oDz), dY = at(scratch, oDY);
  const dXp = at(scratch, oDXp), dHh = at(scratch, oDHh), dh = at(scratch, oDh), dc = at(scratch, oDc);
  const dhz = at(scratch, oDhz), x0 = at(scratch, oX0);
  const accHh = at(scratch, oAccHh), accIh = at(scratch, oAccIh);
  for (let s = 0; s < S; s++) {
    // The replica's inputs, time-major: row t * B + b.
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let k = 0; k < K0; k++) st(x0, (t * B + b) * K0p + k, ld(x, ((s * B + b) * T + t) * K0 + k));
      }
    }
    // Forward, layer by layer.
    for (let l = 0; l < L; l++) {
      const lb = at(scratch, l * layerFloats), K = l == 0 ? K0 : H;
      const wihT = at(lb, oWihT), whhT = at(lb, oWhhT), bih = at(lb, oBih), bhh = at(lb, oBhh);
      const hs = at(lb, oHs), xp = at(lb, oXp), acts = at(lb, oActs), cs = at(lb, oCs), aux = at(lb, oAux);
      const wih = slice(params, 4 * l, S, s), whh = slice(params, 4 * l + 1, S, s);
      transpose(wih, wihT, Gp, G, K);
      transpose(whh, whhT, Gp, G, H);
      copy2d(slice(params, 4 * l + 2, S, s), 0, bih, 0, 1, G);
      copy2d(slice(params, 4 * l + 3, S, s), 0, bhh, 0, 1, G);
      copy2d(whh, H, at(lb, oWhhP), Hp, G, H);
      if (l > 0) copy2d(wih, H, at(lb, oWihP), Hp, G, H);
      copy2d(at(stateIn, (l * S + s) * B * H), H, hs, Hp, B, H);
      if (cell == LSTM) copy2d(at(stateIn, ((L + l) * S + s) * B * H), H, cs, Hp, B, H);
      const input = l == 0 ? x0 : at(scratch, (l - 1) * layerFloats + oHs + B * Hp);
      mm(input, l == 0 ? K0p : Hp, wihT, Gp, bih, xp, Gp, R, K, Gp);
      for (let t = 0; t < T; t++) {
        mm(at(hs, t * B * Hp), Hp, whhT, Gp, bhh, hh, Gp, B, H, Gp);
        for (let b = 0; b < B; b++) {
          const r = t * B + b, xr = at(xp, r * Gp), hr = at(hh, b * Gp);
          const hPrev = at(hs, r * Hp), hNext = at(hs, (r + B) * Hp);
          // Four hidden units at a time (f32x4 gate math); past H a lane reads padding or the next gate's
          // block and is not stored.
          if (cell == RELU) {
            for (let j = 0; j < H; j += 4) {
              const v = f32x4.max(f32x4.add(v128.load(at(xr, j)), v128.load(at(hr, j))), f32x4.splat(0));
              storeN(at(hNext, j), v, H - j);
            }
          } else if (cell == LSTM) {
            const ar = at(acts, r * Gp), cPrev = at(cs, r * Hp), cNext = at(cs, (r + B) * Hp), tc = at(aux, r * Hp);
            gateBlock(xr, hr, ar, 2 * H, 0, false);
            gateBlock(at(xr, 2 * H), at(hr, 2 * H), at(ar, 2 * H), H, 1, false);
            gateBlock(at(xr, 3 * H), at(hr, 3 * H), at(ar, 3 * H), H, 0, false);
            for (let j = 0; j < H; j += 4) {
              const n = H - j;
              const i = v128.load(at(ar, j)), f = v128.load(at(ar, H + j));
              const g = v128.load(at(ar, 2 * H + j)), o = v128.load(at(ar, 3 * H + j));
              const c = f32x4.add(f32x4.mul(f, v128.load(at(cPrev, j))), f32x4.mul(i, g));
              const tanhC = tanhv(c);
              storeN(at(cNext, j), c, n);
              storeN(at(tc, j), tanhC, n);
              storeN(at(hNext, j), f32x4.mul(o, tanhC), n);
            }
          } else {
            const ar = at(acts, r * Gp), hnr = at(aux, r * Hp);
            gateBlock(xr, hr, ar, 2 * H, 0, false);
            for (let j = 0; j < H; j += 4) {
              const n = H - j;
              const reset = v128.load(at(ar, j)), update = v128.load(at(ar, H + j));
              const hn = v128.load(at(hr, 2 * H + j));
              const cand = tanhv(f32x4.add(v128.load(at(xr, 2 * H + j)), f32x4.mul(reset, hn)));
              storeN(at(ar, 2 * H + j), cand, n);
              storeN(at(hnr, j), hn, n);
              const keep = f32x4.mul(update, v128.load(at(hPrev, j)));
              storeN(at(hNext, j), f32x4.add(f32x4.mul(f32x4.sub(f32x4.splat(1), update), cand), keep), n);
            }
          }
        }
      }
      copy2d(at(hs, T * B * Hp), Hp, at(stateOut, (l * S + s) * B * H), H, B, H);
      if (cell == LSTM) copy2d(at(cs, T * B * Hp), Hp, at(stateOut, ((L + l) * S + s) * B * H), H, B, H);
    }
    // The head, the loss and its gradient dz = (sigmoid(z) - y) / R per logit.
    const top = at(scratch, (L - 1) * layerFloats + oHs + B * Hp);
    // The head's weight padded with zeros to Hp (in accIh, free until the backward): the rows of `top` are
    // zero past H, and what the parameters hold past H (the next replica's, maybe NaN) must not reach z.
    const hw = slice(params, 4 * L, S, s), hb = f32x4.splat(ld(slice(params, 4 * L + 1, S, s), 0));
    const hwp = accIh, gwp = accHh;
    for (let j = 0; j < Hp; j++) st(hwp, j, j < H ? ld(hw, j) : 0);
    // z for every row (four hidden units at a time, then across the lanes), then the loss passes with four rows
    // a vector: targets in dXp, e and log1p(e) in dY (all free until the backward).
    for (let r = 0; r < R; r++) {
      const hr = at(top, r * Hp);
      let acc = f32x4.splat(0);
      for (let j = 0; j < Hp; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(at(hr, j)), v128.load(at(hwp, j))));
      acc = f32x4.add(acc, i32x4.shuffle(acc, acc, 2, 3, 0, 1));
      acc = f32x4.add(acc, i32x4.shuffle(acc, acc, 1, 0, 3, 2));
      st(dz, r, f32x4.extract_lane(f32x4.add(hb, acc), 0));
    }
    const R4 = pad4(R) >> 2, ys = dXp, eb = dY, lpb = at(dY, R4 << 2), sums = at(scratch, oSums);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) st(ys, t * B + b, ld(y, (s * B + b) * T + t));
    }
    lossPasses(dz, ys, eb, lpb, R4, R, f32x4.splat(<f32>(<f64>1 / <f64>R)), sums);
    const total = f64x2.add(v128.load(sums), v128.load(sums, 16)), hv = v128.load(sums, 32);
    sd(loss, s, (f64x2.extract_lane(total, 0) + f64x2.extract_lane(total, 1)) / <f64>R);
    const h2 = f32x4.add(hv, i32x4.shuffle(hv, hv, 2, 3, 0, 1));
    st(right, s, f32x4.extract_lane(h2, 0) + f32x4.extract_lane(h2, 1));
    // Head gradients, and the gradient reaching the top layer's outputs.
    let gb: f64 = 0;
    for (let j = 0; j < Hp; j += 4) v128.store(at(gwp, j), f32x4.splat(0));
    for (let r = 0; r < R; r++) {
      const dr = ld(dz, r), d = f32x4.splat(dr), hr = at(top, r * Hp), dyr = at(dY, r * Hp);
      gb += <f64>dr;
      for (let j = 0; j < Hp; j += 4) {
        v128.store(at(gwp, j), f32x4.add(v128.load(at(gwp, j)), f32x4.mul(d, v128.load(at(hr, j)))));
        v128.store(at(dyr, j), f32x4.mul(d, v128.load(at(hwp, j))));
      }
    }
    copy2d(gwp, 0, slice(grads, 4 * L, S, s), 0, 1, H);
    sd(slice(grads, 4 * L + 1, S, s), 0, gb);
    // Backward, layer by layer from the top: BPTT inside the chunk, no gradient into the state in.
    for (let l = L - 1; l >= 0; l--) {
      const lb = at(scratch, l * layerFloats), K = l == 0 ? K0 : H;
      const hs = at(lb, oHs), acts = at(lb, oActs), cs = at(lb, oCs), aux = at(lb, oAux);
      memory.fill(dh, 0, <usize>(B * Hp) << 2);
      memory.fill(dc, 0, <usize>(B * Hp) << 2);
      for (let t = T - 1; t >= 0; t--) {
        for (let b = 0; b < B; b++) {
          const r = t * B + b, dyr = at(dY, r * Hp), dhr = at(dh, b * Hp);
          const dxr = at(dXp, r * Gp), dwr = at(dHh, r * Gp), hNext = at(hs, (r + B) * Hp);
          if (cell == RELU) {
            for (let j = 0; j < H; j++) {
              sd(dxr, j, ldd(hNext, j) > 0 ? ldd(dhr, j) + ldd(dyr, j) : 0);
            }
          } else if (cell == LSTM) {
            const ar = at(acts, r * Gp), cPrev = at(cs, r * Hp), tc = at(aux, r * Hp), dcr = at(dc, b * Hp);
            // Four hidden units at a time in f32 (as the forward); lanes past H are not stored.
            const one = f32x4.splat(1);
            for (let j = 0; j < H; j += 4) {
              const n = H - j;
              const i = v128.load(at(ar, j)), f = v128.load(at(ar, H + j));
              const g = v128.load(at(ar, 2 * H + j)), o = v128.load(at(ar, 3 * H + j));
              const tanhC = v128.load(at(tc, j));
              const dhStep = f32x4.add(v128.load(at(dhr, j)), v128.load(at(dyr, j)));
              const dcStep = f32x4.add(
                v128.load(at(dcr, j)),
                f32x4.mul(f32x4.mul(dhStep, o), f32x4.sub(one, f32x4.mul(tanhC, tanhC))),
              );
              storeN(at(dxr, j), f32x4.mul(f32x4.mul(f32x4.mul(dcStep, g), i), f32x4.sub(one, i)), n);
              const dF = f32x4.mul(f32x4.mul(f32x4.mul(dcStep, v128.load(at(cPrev, j))), f), f32x4.sub(one, f));
              storeN(at(dxr, H + j), dF, n);
              storeN(at(dxr, 2 * H + j), f32x4.mul(f32x4.mul(dcStep, i), f32x4.sub(one, f32x4.mul(g, g))), n);
              storeN(at(dxr, 3 * H + j), f32x4.mul(f32x4.mul(f32x4.mul(dhStep, tanhC), o), f32x4.sub(one, o)), n);
              storeN(at(dcr, j), f32x4.mul(dcStep, f), n);
            }
          } else {
            const ar = at(acts, r * Gp), hnr = at(aux, r * Hp), hPrev = at(hs, r * Hp), dzr = at(dhz, b * Hp);
            for (let j = 0; j < H; j++) {
              const reset = ldd(ar, j), update = ldd(ar, H + j), n = ldd(ar, 2 * H + j), hn = ldd(hnr, j);
              const dhStep = ldd(dhr, j) + ldd(dyr, j);
              const dn = dhStep * (<f64>1 - update) * (<f64>1 - n * n);
              const du = dhStep * (ldd(hPrev, j) - n) * update * (<f64>1 - update);
              const dr = dn * hn * reset * (<f64>1 - reset);
              sd(dxr, j, dr);
              sd(dxr, H + j, du);
              sd(dxr, 2 * H + j, dn);
              sd(dwr, j, dr);
              sd(dwr, H + j, du);
              sd(dwr, 2 * H + j, dn * reset);
              sd(dzr, j, dhStep * update);
            }
          }
        }
        // The gradient reaching step t - 1 through W_hh (and for GRU directly, through z h_{t-1}).
        mm(at(dHh, t * B * Gp), Gp, at(lb, oWhhP), Hp, zero, dh, Hp, B, G, Hp);
        if (cell == GRU) {
          for (let i = 0; i < B * Hp; i++) sd(dh, i, ldd(dh, i) + ldd(dhz, i));
        }
      }
      // Weight and bias gradients over every step and row.
      const input = l == 0 ? x0 : at(scratch, (l - 1) * layerFloats + oHs + B * Hp);
      const Kp = l == 0 ? K0p : Hp;
      outer(dHh, Gp, hs, Hp, accHh, Hp, R, G, Hp);
      copy2d(accHh, Hp, slice(grads, 4 * l + 1, S, s), H, G, H);
      outer(dXp, Gp, input, Kp, accIh, Kmp, R, G, Kp);
      copy2d(accIh, Kmp, slice(grads, 4 * l, S, s), K, G, K);
      const gbi = slice(grads, 4 * l + 2, S, s), gbh = slice(grads, 4 * l + 3, S, s);
      for (let g = 0; g < G; g++) {
        let si: f64 = 0, sh: f64 = 0;
        for (let r = 0; r < R; r++) {
          si += ld(dXp, r * Gp + g);
          sh += ld(dHh, r * Gp + g);
        }
        sd(gbi, g, si);
        sd(gbh, g, sh);
      }
      // The gradient reaching the layer below's outputs: dXp W_ih.
      if (l > 0) mm(dXp, Gp, at(lb, oWihP), Hp, zero, dY, Hp, R, G, Hp);
    }
  }
}

/**
 * Clip and update: each replica's gradients are scaled by
 * coef = min(clip / (norm + 1e-6), 1) where `clip` > 0 (coef is written for
 * every replica, 1 without a clip), then replicas whose `alive` flag is
 * nonzero take one RMSprop (`adam` 0: a = alpha) or Adam (`adam` 1: a =
 * beta1, b = beta2, c1 and c2 the bias corrections) step; the others keep
 * their parameters and moments.
 */
export function update(
  cell_: i32,
  S: i32,
  H_: i32,
  L_: i32,
  K0_: i32,
  params: usize,
  grads: usize,
  m1: usize,
  m2: usize,
  alive: usize,
  coef: usize,
  clip: f32,
  adam: i32,
  lr: f32,
  a: f32,
  b: f32,
  eps: f32,
  c1: f32,
  c2: f32,
): void {
  setDims(cell_, 1, 1, H_, L_, K0_);
  const nVars = 4 * L + 2;
  for (let s = 0; s < S; s++) {
    let k: f32 = 1;
    if (clip > 0) {
      let sq: f64 = 0;
      for (let v = 0; v < nVars; v++) sq += sumSquares(slice(grads, v, S, s), varSize(v));
      k = min<f32>(clip / (<f32>Math.sqrt(sq) + <f32>1e-6), 1);
    }
    st(coef, s, k);
    if (ld(alive, s) == 0) continue;
    for (let v = 0; v < nVars; v++) {
      const n = varSize(v), off = varOffset(v, S) + s * n;
      if (adam) adamLoop(at(params, off), at(grads, off), at(m1, off), at(m2, off), n, k, lr, a, b, eps, c1, c2);
      else rmspropLoop(at(params, off), at(grads, off), at(m1, off), n, k, lr, a, eps);
    }
  }
}

/** The sum of the squares of n floats, in f64: eight at a time over four f64x2 sums, then the rest one by one. */
function sumSquares(g: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = s0, s2 = s0, s3 = s0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = g + (<usize>i << 2), a = v128.load(p), b = v128.load(p, 16);
    const a0 = f64x2.promote_low_f32x4(a), a1 = f64x2.promote_low_f32x4(i32x4.shuffle(a, a, 2, 3, 0, 1));
    const b0 = f64x2.promote_low_f32x4(b), b1 = f64x2.promote_low_f32x4(i32x4.shuffle(b, b, 2, 3, 0, 1));
    s0 = f64x2.add(s0, f64x2.mul(a0, a0));
    s1 = f64x2.add(s1, f64x2.mul(a1, a1));
    s2 = f64x2.add(s2, f64x2.mul(b0, b0));
    s3 = f64x2.add(s3, f64x2.mul(b1, b1));
  }
  const t = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let sq = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
  for (; i < n; i++) sq += <f64>ld(g, i) * <f64>ld(g, i);
  return sq;
}

/** PyTorch's RMSprop over n floats: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps), g = k grad. */
function rmspropLoop(p: usize, grad: usize, sq: usize, n: i32, k: f32, lr: f32, alpha: f32, eps: f32): void {
  const kv = f32x4.splat(k), av = f32x4.splat(alpha), bv = f32x4.splat(<f32>1 - alpha);
  const lv = f32x4.splat(lr), ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + off), kv);
    const v = f32x4.add(f32x4.mul(av, v128.load(sq + off)), f32x4.mul(bv, f32x4.mul(g, g)));
    v128.store(sq + off, v);
    const stepV = f32x4.div(f32x4.mul(lv, g), f32x4.add(f32x4.sqrt(v), ev));
    v128.store(p + off, f32x4.sub(v128.load(p + off), stepV));
  }
  for (; i < n; i++) {
    const g = ld(grad, i) * k;
    const v = alpha * ld(sq, i) + (<f32>1 - alpha) * g * g;
    st(sq, i, v);
    st(p, i, ld(p, i) - (lr * g) / (Mathf.sqrt(v) + eps));
  }
}

/** PyTorch's Adam over n floats, with bias corrections c1 = 1 - beta1^t, c2 = 1 - beta2^t; g = k grad. */
function adamLoop(
  p: usize,
  grad: usize,
  m: usize,
  v: usize,
  n: i32,
  k: f32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  c1: f32,
  c2: f32,
): void {
  const stepSize = lr / c1, sc2 = Mathf.sqrt(c2);
  const kv = f32x4.splat(k), b1 = f32x4.splat(beta1), o1 = f32x4.splat(<f32>1 - beta1);
  const b2 = f32x4.splat(beta2), o2 = f32x4.splat(<f32>1 - beta2);
  const sv = f32x4.splat(stepSize), cv = f32x4.splat(sc2), ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + off), kv);
    const mNext = f32x4.add(f32x4.mul(b1, v128.load(m + off)), f32x4.mul(o1, g));
    const vNext = f32x4.add(f32x4.mul(b2, v128.load(v + off)), f32x4.mul(o2, f32x4.mul(g, g)));
    v128.store(m + off, mNext);
    v128.store(v + off, vNext);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vNext), cv), ev);
    v128.store(p + off, f32x4.sub(v128.load(p + off), f32x4.mul(sv, f32x4.div(mNext, denom))));
  }
  for (; i < n; i++) {
    const g = ld(grad, i) * k;
    const mNext = beta1 * ld(m, i) + (<f32>1 - beta1) * g;
    const vNext = beta2 * ld(v, i) + (<f32>1 - beta2) * g * g;
    st(m, i, mNext);
    st(v, i, vNext);
    st(p, i, ld(p, i) - stepSize * (mNext / (Mathf.sqrt(vNext) / sc2 + eps)));
  }
}

// A whole epoch with its state resident (lib/kernels/cpu/epoch.ts): `epochBegin` records where everything lives
// once per epoch; then one `epochChunk` per chunk reads the chunk from the replicas' series bytes, runs
// `gradients`, marks replicas whose loss is not finite as diverged (they keep their parameters and moments from
// that step on, as lib/tally.ts does), runs `update` on the others, adds the tallies and carries the state out
// into the state in. The caller reads the tallies, the parameters, the moments and the state when it likes.
let eCell = 0, eS = 0, eB = 0, eT = 0, eH = 0, eL = 0, eSeries = 0, eAdam = 0;
let eClip: f32 = 0;
let eParams: usize = 0, eGrads: usize = 0, eM1: usize = 0, eM2: usize = 0, eXs: usize = 0, eYs: usize = 0;
let eX: usize = 0, eY: usize = 0, eStateIn: usize = 0, eStateOut: usize = 0, eLoss: usize = 0, eRight: usize = 0;
let eCoef: usize = 0, eAlive: usize = 0, eTallyLoss: usize = 0, eTallyRight: usize = 0, eScratch: usize = 0;

/**
 * Records an epoch's dimensions and regions (byte offsets): `xs` and `ys` the replicas' series, one byte a bit
 * `[S, B, series]`; `x`, `y` `[S, B, T]` floats for the chunk; the state in and out as for `gradients`;
 * `alive` `[S]` floats (1 or 0, read and written); `tallyLoss` `[S]` floats (each replica's last loss while
 * alive) and `tallyRight` `[S]` f64 (right digits while alive), both added to, never cleared here.
 */
export function epochBegin(
  cell_: i32,
  S: i32,
  B_: i32,
  T_: i32,
  H_: i32,
  L_: i32,
  series: i32,
  params: usize,
  grads: usize,
  m1: usize,
  m2: usize,
  xs: usize,
  ys: usize,
  x: usize,
  y: usize,
  stateIn: usize,
  stateOut: usize,
  loss: usize,
  right: usize,
  coef: usize,
  alive: usize,
  tallyLoss: usize,
  tallyRight: usize,
  scratch: usize,
  clip: f32,
  adam: i32,
): void {
  eCell = cell_;
  eS = S;
  eB = B_;
  eT = T_;
  eH = H_;
  eL = L_;
  eSeries = series;
  eParams = params;
  eGrads = grads;
  eM1 = m1;
  eM2 = m2;
  eXs = xs;
  eYs = ys;
  eX = x;
  eY = y;
  eStateIn = stateIn;
  eStateOut = stateOut;
  eLoss = loss;
  eRight = right;
  eCoef = coef;
  eAlive = alive;
  eTallyLoss = tallyLoss;
  eTallyRight = tallyRight;
  eScratch = scratch;
  eClip = clip;
  eAdam = adam;
}

/** One training step of the epoch `epochBegin` set up, on chunk `index`, with the optimizer's rule for this step. */
export function epochChunk(index: i32, lr: f32, a: f32, b: f32, eps: f32, c1: f32, c2: f32): void {
  const S = eS;
  for (let r = 0; r < S * eB; r++) {
    const from = <usize>(r * eSeries + index * eT), to = r * eT;
    for (let t = 0; t < eT; t++) {
      st(eX, to + t, <f32>load<u8>(eXs + from + t));
      st(eY, to + t, <f32>load<u8>(eYs + from + t));
    }
  }
  gradients(eCell, S, eB, eT, eH, eL, 1, eParams, eGrads, eX, eY, eStateIn, eStateOut, eLoss, eRight, eScratch);
  for (let s = 0; s < S; s++) {
    if (ld(eAlive, s) != 0 && !isFinite<f32>(ld(eLoss, s))) st(eAlive, s, 0);
  }
  update(eCell, S, eH, eL, 1, eParams, eGrads, eM1, eM2, eAlive, eCoef, eClip, eAdam, lr, a, b, eps, c1, c2);
  for (let s = 0; s < S; s++) {
    if (ld(eAlive, s) == 0) continue;
    st(eTallyLoss, s, ld(eLoss, s));
    const at = eTallyRight + (<usize>s << 3);
    store<f64>(at, load<f64>(at) + <f64>ld(eRight, s));
  }
  const nState = eCell == LSTM ? 2 * eL : eL;
  memory.copy(eStateIn, eStateOut, <usize>(nState * S * eB * eH) << 2);
}
