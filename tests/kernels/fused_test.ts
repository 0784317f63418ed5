// mutants: fast 6
import { assert, assertClose } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { useBackend } from "../../lib/backend.ts";
import { CELLS, type KernelKind, SimpleRNN } from "../../lib/models.ts";
import { outputsAndGrads } from "../_fixtures.ts";
import { Rng } from "../../lib/rng.ts";

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`${backend}: fused kernels give the op-level outputs and gradients (random shapes, layers, replicas)`, async () => {
    await useBackend(backend);
    const rng = new Rng(2024, "fused-test");
    const int = (lo: number, hi: number) => lo + Math.floor(rng.float() * (hi - lo + 1));
    for (const cell of CELLS) {
      for (let trial = 0; trial < 4; trial++) {
        const H = trial === 3 ? int(9, 21) : int(1, 7), layers = int(1, 3), S = int(1, 3), B = int(1, 4), T = int(1, 9);
        const seeds = Array.from({ length: S }, () => int(0, 1e6));
        const make = (kernel: KernelKind) =>
          new SimpleRNN({ cell, hidden: H, layers, seeds, kernel, identityScale: 0.9 });
        const bits = (n: number) => Array.from({ length: n }, () => rng.bit());
        const x = tf.tensor4d(bits(S * B * T), [S, B, T, 1]), y = tf.tensor4d(bits(S * B * T), [S, B, T, 1]);
        const nState = cell === "lstm" ? 2 * layers : layers;
        const state = Array.from(
          { length: nState },
          () => tf.tensor3d(Array.from({ length: S * B * H }, () => rng.uniform(-0.5, 1)), [S, B, H]),
        );
        const op = make("op"), fused = make("fused");
        assert.ok(fused.usesFusedKernel() && !op.usesFusedKernel());
        const a = await outputsAndGrads(op, x, y, state), b = await outputsAndGrads(fused, x, y, state);
        const where = `${backend} ${cell} H${H} L${layers} S${S} B${B} T${T}`;
        assertClose(b.logits, a.logits, 1e-5, `${where} logits`);
        assertClose(b.state, a.state, 1e-5, `${where} state`);
        a.grads.forEach((g, i) => assertClose(b.grads[i], g, 1e-5, `${where} grad ${[...op.params.keys()][i]}`));
        assertClose(b.gState, a.gState, 1e-5, `${where} d/dstate`);
        tf.dispose([x, y, ...state]);
        op.dispose();
        fused.dispose();
      }
    }
  });
}
