/**
 * The SIMD helpers of `lib/kernels/cpu/simd.ts` against plain loops (replicas,
 * strides, tails, guards past each output), the arena's zero fill, and that the
 * committed wasm is what its source compiles to. Not the layers built on them:
 * `fused_test.ts` and `equivalence_test.ts` check those.
 */
import { assert, assertClose } from "../_assert.ts";
import { Arena, copyRows, copyTransposed, type Mat, matmulBias, outerAcc } from "../../lib/kernels/cpu/simd.ts";
import { Rng } from "../../lib/rng.ts";

// The AssemblyScript compiler is a dependency of `deno task build:wasm` only (not of `deno install`). The check runs in
// a subprocess without the lockfile, as the task does, so that running the tests never adds it to deno.lock, and
// --cached-only, so that it never downloads it.
const ASC_INSTALLED = (() => {
  try {
    return Deno.statSync(new URL("../../node_modules/.deno/assemblyscript@0.28.20/", import.meta.url)).isDirectory;
  } catch {
    return false;
  }
})();
if (!ASC_INSTALLED) {
  console.log("skipping the committed-wasm check: the AssemblyScript compiler is not installed (deno task build:wasm)");
}

Deno.test({
  name: "every committed wasm module is what its source in wasm/src/ compiles to (deno task build:wasm)",
  ignore: !ASC_INSTALLED,
  fn: async () => {
    const r = await new Deno.Command("deno", {
      args: ["run", "--no-lock", "--cached-only", "--allow-read", "--allow-env=CI", "wasm/build.ts", "--check"],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(r.stderr).trim();
    assert.equal(r.code, 0, text || "lib/kernels/cpu/simd_wasm.ts is stale: run `deno task build:wasm`");
  },
});

Deno.test("matmulBias and outerAcc equal plain loops (replicas, strides, odd rows, every tail width, shared bias)", () => {
  const rng = new Rng(7, "simd-test");
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
  const cases = [[1, 1, 1, 4, 0], [2, 2, 3, 8, 0], [3, 5, 60, 60, 0], [1, 7, 13, 20, 4], [4, 3, 9, 36, 8], [
    2,
    100,
    5,
    12,
    3,
  ]];
  for (const [S, R, K, N, extra] of cases) {
    // Rows `extra` floats wider than they are used (a stride the kernels must honour), and a guard after each output.
    const [aW, wW, oW] = [K + extra, N + 4 * Math.ceil(extra / 4), N + 4 * Math.ceil(extra / 4)];
    const m = new Arena();
    const mat = (rows: number, stride: number): Mat => ({
      at: m.alloc(S * rows * stride + 4),
      rs: rows * stride,
      stride,
    });
    const a = mat(R, aW), w = mat(K, wW), x = mat(R, oW), out = mat(R, oW), acc = mat(K, oW);
    const bias: Mat = { at: m.alloc(N), rs: 0, stride: 0 };
    const fill = (t: Mat, n: number) => {
      const v = rand(n);
      m.f32.set(v, t.at);
      return v;
    };
    const [av, wv, xv, accv, bv] = [
      fill(a, S * R * aW),
      fill(w, S * K * wW),
      fill(x, S * R * oW),
      fill(acc, S * K * oW),
    ]
      .concat([fill(bias, N)]);
    const guard = (t: Mat, rows: number) => m.f32[t.at + S * rows * t.stride];
    const [outGuard, accGuard] = [guard(out, R), guard(acc, K)];

    matmulBias({ replicas: S, a, w, bias, out, rows: R, inner: K, width: N });
    const got = [], want = [];
    for (let s = 0; s < S; s++) {
      for (let r = 0; r < R; r++) {
        for (let n = 0; n < N; n++) {
          let sum = bv[n];
          for (let k = 0; k < K; k++) sum += av[(s * R + r) * aW + k] * wv[(s * K + k) * wW + n];
          want.push(sum);
          got.push(m.f32[out.at + (s * R + r) * oW + n]);
        }
      }
    }
    assertClose(got, want, 1e-5, `matmulBias ${S}x${R}x${K}x${N} (+${extra})`);
    assert.equal(guard(out, R), outGuard, "matmulBias wrote past its output");

    // acc[s, g, n] += sum_r a[s, r, g] x[s, r, n]: a is d, G = K.
    outerAcc({ replicas: S, d: a, x, acc, rows: R, accRows: K, width: N });
    const gotAcc = [], wantAcc = [];
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < K; g++) {
        for (let n = 0; n < N; n++) {
          let sum = accv[(s * K + g) * oW + n];
          for (let r = 0; r < R; r++) sum += av[(s * R + r) * aW + g] * xv[(s * R + r) * oW + n];
          wantAcc.push(sum);
          gotAcc.push(m.f32[acc.at + (s * K + g) * oW + n]);
        }
      }
    }
    assertClose(gotAcc, wantAcc, 1e-4, `outerAcc ${S}x${R}x${K}x${N} (+${extra})`);
    assert.equal(guard(acc, K), accGuard, "outerAcc wrote past its output");
  }
});

Deno.test("a new arena hands out zeros over what an earlier one left; widths must be multiples of 4", () => {
  const first = new Arena();
  const at = first.alloc(1000);
  first.f32.fill(NaN, at, at + 1000);
  const second = new Arena();
  const again = second.alloc(1000);
  assert.ok(second.f32.subarray(again, again + 1000).every((v) => v === 0));
  const z: Mat = { at: again, rs: 0, stride: 0 };
  assert.throws(
    () => matmulBias({ replicas: 1, a: z, w: z, bias: z, out: z, rows: 1, inner: 1, width: 6 }),
    /multiple of 4, got 6/,
  );
});

Deno.test("copyRows pads and unpads rows between strides; copyTransposed writes each replica's W^T", () => {
  // 3 rows of 2 floats, 3 apart from 1 in src, to rows 4 apart from 2 in dst; then back with the default starts.
  const src = Float32Array.from([9, 1, 2, 9, 3, 4, 9, 5, 6, 9]);
  const dst = new Float32Array(14);
  copyRows({ src, srcAt: 1, srcStride: 3, dst, dstAt: 2, dstStride: 4, rows: 3, width: 2 });
  assert.deepEqual([...dst], [0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0]);
  const back = new Float64Array(6);
  copyRows({ src: dst.subarray(2), srcStride: 4, dst: back, dstStride: 2, rows: 3, width: 2 });
  assert.deepEqual([...back], [1, 2, 3, 4, 5, 6]);

  // Two replicas' [2, 3] matrices as [3, 4] rows (2 used, 2 padding) from position 1.
  const w = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const wt = new Float32Array(1 + 2 * 3 * 4);
  copyTransposed({ src: w, dst: wt, dstAt: 1, replicas: 2, rows: 2, cols: 3, dstStride: 4 });
  assert.deepEqual(
    [...wt],
    [0, 1, 4, 0, 0, 2, 5, 0, 0, 3, 6, 0, 0, 7, 10, 0, 0, 8, 11, 0, 0, 9, 12, 0, 0],
  );
});
