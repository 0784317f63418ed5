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
let oAccHh = 0, oAccIh = 0, oZero = 0, totalFloats = 0;

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
  totalFloats = o;
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

/** e^x per lane: +Inf past 88.72, 0 below -103.98 (subnormals between), NaN kept. */
@inline
function expv(x: v128): v128 {
  const c = f32x4.max(f32x4.min(x, f32x4.splat(89)), f32x4.splat(-104));
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(c, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n in two factors, each a normal float for n in [-150, 128], so that overflow and subnormals round once.
  const ni = i32x4.trunc_sat_f32x4_s(n);
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
  const e = expv(f32x4.add(f32x4.min(a, f32x4.splat(10)), f32x4.min(a, f32x4.splat(10))));
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

/** Copies rows x cols floats from src (row stride srcStride) to dst (row stride dstStride). */
function copy2d(src: usize, srcStride: i32, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) st(dst, r * dstStride + c, ld(src, r * srcStride + c));
  }
}

/** dst[c, r] = src[r, c] for a rows x cols src (row stride cols) into dst with row stride dstStride. */
function transpose(src: usize, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) st(dst, c * dstStride + r, ld(src, r * cols + c));
  }
}

/** Replica s's slice of variable v in a parameter-shaped region. */
@inline
function slice(region: usize, v: i32, S: i32, s: i32): usize {
  return at(region, varOffset(v, S) + s * varSize(v));
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
  memory.fill(scratch, 0, <usize>totalFloats << 2);
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
            for (let j = 0; j < H; j += 4) {
              const n = H - j;
              const i = sigmoidv(f32x4.add(v128.load(at(xr, j)), v128.load(at(hr, j))));
              const f = sigmoidv(f32x4.add(v128.load(at(xr, H + j)), v128.load(at(hr, H + j))));
              const g = tanhv(f32x4.add(v128.load(at(xr, 2 * H + j)), v128.load(at(hr, 2 * H + j))));
              const o = sigmoidv(f32x4.add(v128.load(at(xr, 3 * H + j)), v128.load(at(hr, 3 * H + j))));
              const c = f32x4.add(f32x4.mul(f, v128.load(at(cPrev, j))), f32x4.mul(i, g));
              const tanhC = tanhv(c);
              storeN(at(ar, j), i, n);
              storeN(at(ar, H + j), f, n);
              storeN(at(ar, 2 * H + j), g, n);
              storeN(at(ar, 3 * H + j), o, n);
              storeN(at(cNext, j), c, n);
              storeN(at(tc, j), tanhC, n);
              storeN(at(hNext, j), f32x4.mul(o, tanhC), n);
            }
          } else {
            const ar = at(acts, r * Gp), hnr = at(aux, r * Hp);
            for (let j = 0; j < H; j += 4) {
              const n = H - j;
              const reset = sigmoidv(f32x4.add(v128.load(at(xr, j)), v128.load(at(hr, j))));
              const update = sigmoidv(f32x4.add(v128.load(at(xr, H + j)), v128.load(at(hr, H + j))));
              const hn = v128.load(at(hr, 2 * H + j));
              const cand = tanhv(f32x4.add(v128.load(at(xr, 2 * H + j)), f32x4.mul(reset, hn)));
              storeN(at(ar, j), reset, n);
              storeN(at(ar, H + j), update, n);
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
    const hw = slice(params, 4 * L, S, s), hb = ldd(slice(params, 4 * L + 1, S, s), 0);
    let sum: f64 = 0;
    let hits: f64 = 0;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const r = t * B + b, hr = at(top, r * Hp);
        let z = hb;
        for (let j = 0; j < H; j++) z += ldd(hr, j) * ldd(hw, j);
        const target = ldd(y, (s * B + b) * T + t);
        sum += (max<f64>(z, 0) - z * target + Math.log1p(Math.exp(-Math.abs(z))));
        if ((z > 0 ? <f64>1 : <f64>0) == target) hits += 1;
        sd(dz, r, (sigmoid64(z) - target) / <f64>R);
      }
    }
    sd(loss, s, sum / <f64>R);
    sd(right, s, hits);
    // Head gradients, and the gradient reaching the top layer's outputs.
    const gw = slice(grads, 4 * L, S, s);
    let gb: f64 = 0;
    for (let j = 0; j < H; j++) sd(gw, j, 0);
    for (let r = 0; r < R; r++) {
      const d = ldd(dz, r), hr = at(top, r * Hp), dyr = at(dY, r * Hp);
      gb += d;
      for (let j = 0; j < H; j++) {
        sd(gw, j, ldd(gw, j) + d * ldd(hr, j));
        sd(dyr, j, d * ldd(hw, j));
      }
    }
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
            for (let j = 0; j < H; j++) {
              const i = ldd(ar, j), f = ldd(ar, H + j), g = ldd(ar, 2 * H + j), o = ldd(ar, 3 * H + j);
              const tanhC = ldd(tc, j);
              const dhStep = ldd(dhr, j) + ldd(dyr, j);
              const dcStep = ldd(dcr, j) + dhStep * o * (<f64>1 - tanhC * tanhC);
              sd(dxr, j, dcStep * g * i * (<f64>1 - i));
              sd(dxr, H + j, dcStep * ldd(cPrev, j) * f * (<f64>1 - f));
              sd(dxr, 2 * H + j, dcStep * i * (<f64>1 - g * g));
              sd(dxr, 3 * H + j, dhStep * tanhC * o * (<f64>1 - o));
              sd(dcr, j, dcStep * f);
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
      for (let v = 0; v < nVars; v++) {
        const g = slice(grads, v, S, s), n = varSize(v);
        for (let i = 0; i < n; i++) sq += <f64>ld(g, i) * <f64>ld(g, i);
      }
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
