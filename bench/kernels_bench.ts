/**
 * `deno task bench:kernels`: microbenchmarks of one training step's forward
 * and backward through the recurrent layer, fused kernel against op by op,
 * for each cell on the wasm backend (batch 5, T 20), and for the 6 x 60 RNN;
 * and the SIMD matmul against the same loops in plain JavaScript.
 *
 * Not the end-to-end timings of whole runs against PyTorch (`deno task bench`,
 * `bench/bench.ts`), and no check of results: the tests do that.
 */
import { tf } from "../lib/tf.ts";
import { useBackend } from "../lib/backend.ts";
import { type CellKind, type KernelKind, SimpleRNN } from "../lib/models.ts";
import { bceWithLogits } from "../lib/loss.ts";
import { Arena, type Mat, matmulBias } from "../lib/kernels/cpu/simd.ts";

await useBackend("wasm");

function step(cell: CellKind, hidden: number, replicas: number, kernel: KernelKind, layers = 1) {
  const seeds = Array.from({ length: replicas }, (_, i) => i + 1);
  const m = new SimpleRNN({ cell, hidden, seeds, kernel, layers });
  const x = tf.randomUniform([replicas, 5, 20, 1]) as tf.Tensor4D,
    y = tf.round(tf.randomUniform([replicas, 5, 20, 1])) as tf.Tensor4D;
  return () =>
    tf.tidy(() => {
      const { value } = tf.variableGrads(
        () => tf.sum(bceWithLogits(m.forward(x, null).logits, y)) as tf.Scalar,
        m.variables,
      );
      value.dataSync();
    });
}

for (const cell of ["rnn", "lstm", "gru"] as const) {
  for (const [hidden, replicas] of [[4, 1], [60, 1], [4, 64]]) {
    const group = `${cell} H${hidden} S${replicas}`;
    Deno.bench({ name: `${group} op`, group, baseline: true, fn: step(cell, hidden, replicas, "op") });
    Deno.bench({ name: `${group} fused`, group, fn: step(cell, hidden, replicas, "fused") });
  }
}

// The notebook's deepest model (6 x 60) with 20 seeds, as exp:memory runs it.
Deno.bench({ name: "rnn 6x60 S20 op", group: "rnn 6x60 S20", baseline: true, fn: step("rnn", 60, 20, "op", 6) });
Deno.bench({ name: "rnn 6x60 S20 fused", group: "rnn 6x60 S20", fn: step("rnn", 60, 20, "fused", 6) });

// The SIMD matmul itself against the same product in plain JavaScript: [5, 60] x [60, 60] plus bias.
{
  const [R, K, N] = [5, 60, 60];
  const m = new Arena();
  const mat = (n: number, rs: number, stride: number): Mat => ({ at: m.alloc(n), rs, stride });
  const a = mat(R * K, 0, K), w = mat(K * N, 0, N), bias = mat(N, 0, 0), out = mat(R * N, 0, N);
  m.f32.fill(0.5, a.at, out.at);
  const [av, wv, bv, ov] = [
    new Float32Array(R * K),
    new Float32Array(K * N),
    new Float32Array(N),
    new Float32Array(R * N),
  ];
  const group = "matmul 5x60x60 (18,000 MACs)";
  Deno.bench({ name: "plain JavaScript", group, baseline: true }, () => {
    for (let r = 0; r < R; r++) {
      for (let n = 0; n < N; n++) {
        let s = bv[n];
        for (let k = 0; k < K; k++) s += av[r * K + k] * wv[k * N + n];
        ov[r * N + n] = s;
      }
    }
  });
  Deno.bench(
    { name: "SIMD wasm", group },
    () => matmulBias({ replicas: 1, a, w, bias, out, rows: R, inner: K, width: N }),
  );
}
