// SIMD matmul kernels (f32x4) behind lib/kernels/cpu/simd.ts.
// Build: `deno task build:wasm` (writes lib/kernels/cpu/simd_wasm.ts); a test checks the
// committed binary is what this source compiles to.
//
// Pointers are byte offsets into this module's memory; strides and sizes count
// f32 elements. N (the vectorised width) must be a multiple of 4: callers pad
// rows with zeros.

/**
 * For each replica s < S: out_s[r, 0:N] = bias_s[0:N] + sum_k a_s[r, k] w_s[k, 0:N].
 * Operand x_s starts xS floats after x_(s-1); one call serves every replica.
 */
export function matmulBias(
  S: i32,
  a: usize,
  aS: i32,
  aStride: i32,
  w: usize,
  wS: i32,
  wStride: i32,
  bias: usize,
  biasS: i32,
  out: usize,
  outS: i32,
  outStride: i32,
  R: i32,
  K: i32,
  N: i32,
): void {
  for (let s = 0; s < S; s++) {
    matmulBias1(
      a + (<usize>(s * aS) << 2),
      aStride,
      w + (<usize>(s * wS) << 2),
      wStride,
      bias + (<usize>(s * biasS) << 2),
      out + (<usize>(s * outS) << 2),
      outStride,
      R,
      K,
      N,
    );
  }
}

/** For each replica s < S: acc_s[g, 0:N] += sum_r d_s[r, g] x_s[r, 0:N], strides as matmulBias. */
export function outerAcc(
  S: i32,
  d: usize,
  dS: i32,
  dStride: i32,
  x: usize,
  xS: i32,
  xStride: i32,
  acc: usize,
  accS: i32,
  accStride: i32,
  R: i32,
  G: i32,
  N: i32,
): void {
  for (let s = 0; s < S; s++) {
    outerAcc1(
      d + (<usize>(s * dS) << 2),
      dStride,
      x + (<usize>(s * xS) << 2),
      xStride,
      acc + (<usize>(s * accS) << 2),
      accStride,
      R,
      G,
      N,
    );
  }
}

/** out[r, 0:N] = bias[0:N] + sum_k a[r, k] * w[k, 0:N] for r < R, two rows at a time. */
@inline
function matmulBias1(
  a: usize,
  aStride: i32,
  w: usize,
  wStride: i32,
  bias: usize,
  out: usize,
  outStride: i32,
  R: i32,
  K: i32,
  N: i32,
): void {
  const wStep = <usize>(wStride << 2);
  let r = 0;
  for (; r + 1 < R; r += 2) {
    const a0 = a + (<usize>(r * aStride) << 2), a1 = a0 + (<usize>aStride << 2);
    const o0 = out + (<usize>(r * outStride) << 2), o1 = o0 + (<usize>outStride << 2);
    let n = 0;
    for (; n + 8 <= N; n += 8) {
      const off = <usize>n << 2;
      let p0 = v128.load(bias + off), p1 = v128.load(bias + off, 16);
      let q0 = p0, q1 = p1;
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        const x = f32x4.splat(load<f32>(a0 + (<usize>k << 2)));
        const y = f32x4.splat(load<f32>(a1 + (<usize>k << 2)));
        const w0 = v128.load(wr), w1 = v128.load(wr, 16);
        p0 = f32x4.add(p0, f32x4.mul(x, w0));
        p1 = f32x4.add(p1, f32x4.mul(x, w1));
        q0 = f32x4.add(q0, f32x4.mul(y, w0));
        q1 = f32x4.add(q1, f32x4.mul(y, w1));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
      v128.store(o0 + off, p1, 16);
      v128.store(o1 + off, q0);
      v128.store(o1 + off, q1, 16);
    }
    for (; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = v128.load(bias + off);
      let q0 = p0;
      let wr = w + off;
      for (let k = 0; k < K; k++) {
        const w0 = v128.load(wr);
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(a0 + (<usize>k << 2))), w0));
        q0 = f32x4.add(q0, f32x4.mul(f32x4.splat(load<f32>(a1 + (<usize>k << 2))), w0));
        wr += wStep;
      }
      v128.store(o0 + off, p0);
      v128.store(o1 + off, q0);
    }
  }
  for (; r < R; r++) {
    const a0 = a + (<usize>(r * aStride) << 2);
    const o0 = out + (<usize>(r * outStride) << 2);
    for (let n = 0; n < N; n += 4) {
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

/** acc[g, 0:N] += sum_r d[r, g] * x[r, 0:N] for g < G: a weight gradient over R rows. */
@inline
function outerAcc1(
  d: usize,
  dStride: i32,
  x: usize,
  xStride: i32,
  acc: usize,
  accStride: i32,
  R: i32,
  G: i32,
  N: i32,
): void {
  const xStep = <usize>(xStride << 2), dStep = <usize>(dStride << 2);
  for (let g = 0; g < G; g++) {
    const row = acc + (<usize>(g * accStride) << 2);
    let n = 0;
    for (; n + 16 <= N; n += 16) {
      const off = <usize>n << 2;
      let p0 = v128.load(row + off), p1 = v128.load(row + off, 16);
      let p2 = v128.load(row + off, 32), p3 = v128.load(row + off, 48);
      let xr = x + off, dr = d + (<usize>g << 2);
      for (let r = 0; r < R; r++) {
        const dv = f32x4.splat(load<f32>(dr));
        p0 = f32x4.add(p0, f32x4.mul(dv, v128.load(xr)));
        p1 = f32x4.add(p1, f32x4.mul(dv, v128.load(xr, 16)));
        p2 = f32x4.add(p2, f32x4.mul(dv, v128.load(xr, 32)));
        p3 = f32x4.add(p3, f32x4.mul(dv, v128.load(xr, 48)));
        xr += xStep;
        dr += dStep;
      }
      v128.store(row + off, p0);
      v128.store(row + off, p1, 16);
      v128.store(row + off, p2, 32);
      v128.store(row + off, p3, 48);
    }
    for (; n < N; n += 4) {
      const off = <usize>n << 2;
      let p0 = v128.load(row + off);
      let xr = x + off, dr = d + (<usize>g << 2);
      for (let r = 0; r < R; r++) {
        p0 = f32x4.add(p0, f32x4.mul(f32x4.splat(load<f32>(dr)), v128.load(xr)));
        xr += xStep;
        dr += dStep;
      }
      v128.store(row + off, p0);
    }
  }
}
