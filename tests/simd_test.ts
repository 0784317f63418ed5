import { assert, assertClose } from "./_assert.ts";
import { Arena, type Mat, matmulBias, outerAcc } from "../lib/simd.ts";
import { KERNELS_WASM } from "../lib/kernels_wasm.ts";
import { compileKernels } from "../wasm/compile.ts";
import { Rng } from "../lib/rng.ts";

Deno.test("the committed wasm is what wasm/src/kernels.ts compiles to (deno task build:wasm)", async () => {
  const built = await compileKernels();
  const committed = Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0));
  assert.deepEqual(committed, built, "lib/kernels_wasm.ts is stale: run `deno task build:wasm`");
});

Deno.test("matmulBias and outerAcc equal plain loops (replicas, odd rows, every tail width, shared bias)", () => {
  const rng = new Rng(7, "simd-test");
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
  for (
    const [S, R, K, N] of [[1, 1, 1, 4], [2, 2, 3, 8], [3, 5, 60, 60], [1, 7, 13, 20], [4, 3, 9, 36], [2, 100, 5, 12]]
  ) {
    const m = new Arena();
    const mat = (n: number, rs: number, stride: number): Mat => ({ at: m.alloc(n), rs, stride });
    const a = mat(S * R * K, R * K, K), w = mat(S * K * N, K * N, N), bias = mat(N, 0, 0);
    const out = mat(S * R * N, R * N, N), x = mat(S * R * N, R * N, N), acc = mat(S * K * N, K * N, N);
    const [av, wv, bv, xv, accv] = [rand(S * R * K), rand(S * K * N), rand(N), rand(S * R * N), rand(S * K * N)];
    [[av, a], [wv, w], [bv, bias], [xv, x], [accv, acc]].forEach(([v, r]) =>
      m.f32.set(v as Float32Array, (r as Mat).at)
    );

    matmulBias(S, a, w, bias, out, R, K, N);
    const want = new Float32Array(S * R * N);
    for (let s = 0; s < S; s++) {
      for (let r = 0; r < R; r++) {
        for (let n = 0; n < N; n++) {
          let sum = bv[n];
          for (let k = 0; k < K; k++) sum += av[(s * R + r) * K + k] * wv[(s * K + k) * N + n];
          want[(s * R + r) * N + n] = sum;
        }
      }
    }
    assertClose(m.f32.subarray(out.at, out.at + S * R * N), want, 1e-5, `matmulBias ${S}x${R}x${K}x${N}`);

    // acc[s, g, n] += sum_r a[s, r, g] x[s, r, n]: a is d, G = K.
    outerAcc(S, a, x, acc, R, K, N);
    const wantAcc = Float32Array.from(accv);
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < K; g++) {
        for (let n = 0; n < N; n++) {
          for (let r = 0; r < R; r++) wantAcc[(s * K + g) * N + n] += av[(s * R + r) * K + g] * xv[(s * R + r) * N + n];
        }
      }
    }
    assertClose(m.f32.subarray(acc.at, acc.at + S * K * N), wantAcc, 1e-4, `outerAcc ${S}x${R}x${K}x${N}`);
  }
});
