import { assert, assertClose } from "./_assert.ts";
import { Arena, matmulBias, outerAcc } from "../lib/simd.ts";
import { KERNELS_WASM } from "../lib/kernels_wasm.ts";
import { compileKernels } from "../wasm/compile.ts";
import { Rng } from "../lib/rng.ts";

Deno.test("the committed wasm is what wasm/src/kernels.ts compiles to (deno task build:wasm)", async () => {
  const built = await compileKernels();
  const committed = Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0));
  assert.deepEqual(committed, built, "lib/kernels_wasm.ts is stale: run `deno task build:wasm`");
});

Deno.test("matmulBias and outerAcc equal plain loops (odd rows, every tail width)", () => {
  const rng = new Rng(7, "simd-test");
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
  for (const [R, K, N] of [[1, 1, 4], [2, 3, 8], [5, 60, 60], [7, 13, 20], [3, 9, 36], [100, 5, 12]]) {
    const m = new Arena();
    const a = m.alloc(R * K), w = m.alloc(K * N), bias = m.alloc(N), out = m.alloc(R * N), acc = m.alloc(K * N);
    const [av, wv, bv, accv] = [rand(R * K), rand(K * N), rand(N), rand(K * N)];
    const x = m.alloc(R * N), xv = rand(R * N);
    m.f32.set(av, a.at), m.f32.set(wv, w.at), m.f32.set(bv, bias.at), m.f32.set(accv, acc.at), m.f32.set(xv, x.at);

    matmulBias(a, K, w, N, bias, out, N, R, K, N);
    const want = new Float32Array(R * N);
    for (let r = 0; r < R; r++) {
      for (let n = 0; n < N; n++) {
        let s = bv[n];
        for (let k = 0; k < K; k++) s += av[r * K + k] * wv[k * N + n];
        want[r * N + n] = s;
      }
    }
    assertClose(m.f32.subarray(out.at, out.at + R * N), want, 1e-5, `matmulBias ${R}x${K}x${N}`);

    // acc[g, n] += sum_r a[r, g] x[r, n], with a as d ([R, K], so G = K).
    outerAcc(a, K, x, N, acc, N, R, K, N);
    const wantAcc = Float32Array.from(accv);
    for (let g = 0; g < K; g++) {
      for (let n = 0; n < N; n++) {
        for (let r = 0; r < R; r++) wantAcc[g * N + n] += av[r * K + g] * xv[r * N + n];
      }
    }
    assertClose(m.f32.subarray(acc.at, acc.at + K * N), wantAcc, 1e-4, `outerAcc ${R}x${K}x${N}`);
  }
});
