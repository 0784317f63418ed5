/**
 * RMSprop and Adam updates as WebGPU compute programs: each new moment and
 * each new parameter is one dispatch that also applies the alive mask, where
 * the op-level update (`../op/update.ts`) costs about fourteen tfjs ops per
 * parameter. PyTorch's rules, as there; float32, like the op-level path on this backend.
 */
import { tf } from "../../tf.ts";
import { type ProgramUniforms, runProgram, type WebGpuProgram } from "./program.ts";
import { VariableMoments } from "../op/update.ts";
import type { AliveMask, UpdateKernel } from "../kernel.ts";

const GROUP = 64;

/**
 * An elementwise program over a replica-stacked tensor of `shape` (leading
 * axis S): `expr` is the new value of element `i`, kept only where
 * `alive[i / PER]` is 1. `names` are the inputs `expr` reads (`alive` last).
 */
function masked(key: string, shape: number[], names: string[], expr: string, uniforms?: string): WebGpuProgram {
  const n = shape.reduce((a, b) => a * b, 1);
  const kept = names[0];
  return {
    outputShape: shape,
    // The constants written into the code (lr, alpha, betas, eps) are part of the key: tfjs caches pipelines by it.
    shaderKey: `echolab_${key}_${n}_${shape[0]}_${expr}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(n / GROUP), 1, 1],
    workgroupSize: [GROUP, 1, 1],
    variableNames: [...names, "alive"],
    size: true,
    uniforms,
    getUserCode: () => `
const PER = ${n / shape[0]};
fn main(index: i32) {
  if (index < uniforms.size) {
    let i = index;
    result[i] = select(${kept}[i], ${expr}, alive[i / PER] > 0.0);
  }
}
`,
  };
}

/** `torch.optim.RMSprop`'s update: returns [new v, new p] for parameter `p`, gradient `g`, moment `v`. */
export function rmspropStep(
  p: tf.Tensor,
  g: tf.Tensor,
  v: tf.Tensor,
  alive: tf.Tensor1D,
  h: { lr: number; alpha: number; eps: number },
): [tf.Tensor, tf.Tensor] {
  const wgslFloat = (x: number) => x.toExponential(); // a WGSL float literal of x
  const vNext = runProgram(
    masked("rmsprop_v", v.shape, ["v", "g"], `${wgslFloat(h.alpha)} * v[i] + ${wgslFloat(1 - h.alpha)} * g[i] * g[i]`),
    [v, g, alive],
  );
  const pNext = runProgram(
    masked(
      "rmsprop_p",
      p.shape,
      ["p", "g", "vn"],
      `p[i] - ${wgslFloat(h.lr)} * g[i] / (sqrt(vn[i]) + ${wgslFloat(h.eps)})`,
    ),
    [p, g, vNext, alive],
  );
  return [vNext, pNext];
}

/**
 * `torch.optim.Adam`'s update at step t, with bias corrections c1 = 1 - beta1^t
 * and c2 = 1 - beta2^t: returns [new m, new v, new p].
 */
export function adamStep(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  alive: tf.Tensor1D,
  h: { lr: number; beta1: number; beta2: number; eps: number; c1: number; c2: number },
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const wgslFloat = (x: number) => x.toExponential();
  const mNext = runProgram(
    masked("adam_m", m.shape, ["m", "g"], `${wgslFloat(h.beta1)} * m[i] + ${wgslFloat(1 - h.beta1)} * g[i]`),
    [m, g, alive],
  );
  const vNext = runProgram(
    masked("adam_v", v.shape, ["v", "g"], `${wgslFloat(h.beta2)} * v[i] + ${wgslFloat(1 - h.beta2)} * g[i] * g[i]`),
    [v, g, alive],
  );
  // Bias corrections change every step: uniforms, so the pipeline compiles once.
  const corrections: ProgramUniforms = [{ type: "float32", data: [h.lr / h.c1] }, {
    type: "float32",
    data: [Math.sqrt(h.c2)],
  }];
  const expr = `p[i] - uniforms.step * (mn[i] / (sqrt(vn[i]) / uniforms.sc2 + ${wgslFloat(h.eps)}))`;
  const pNext = runProgram(
    masked("adam_p", p.shape, ["p", "mn", "vn"], expr, "step : f32, sc2 : f32,"),
    [p, mNext, vNext, alive],
    corrections,
  );
  return [mNext, vNext, pNext];
}

/** The mask as a `[S]` tensor of 1 and 0. */
function maskValues(alive: AliveMask | undefined, replicas: number): tf.Tensor1D {
  if (alive instanceof tf.Tensor) return tf.cast(alive, "float32");
  return tf.tensor1d(Array.from({ length: replicas }, (_, r) => (alive && !alive[r] ? 0 : 1)));
}

/** RMSprop and Adam as WGSL programs, moments as tfjs variables on the device. */
export const webgpuUpdate: UpdateKernel = {
  zeros: (vars) => new VariableMoments(vars),

  rmsprop(vars, grads, sq, alive, rule) {
    const squares = (sq as VariableMoments).values;
    tf.tidy(() => {
      const mask = maskValues(alive, vars[0].shape[0]);
      vars.forEach((p, i) => {
        const [v, next] = rmspropStep(p, grads[i], squares[i], mask, rule);
        squares[i].assign(v);
        p.assign(next);
      });
    });
  },

  adam(vars, grads, m, v, alive, rule) {
    const firsts = (m as VariableMoments).values, seconds = (v as VariableMoments).values;
    tf.tidy(() => {
      const mask = maskValues(alive, vars[0].shape[0]);
      vars.forEach((p, i) => {
        const [first, second, next] = adamStep(p, grads[i], firsts[i], seconds[i], mask, rule);
        firsts[i].assign(first);
        seconds[i].assign(second);
        p.assign(next);
      });
    });
  },
};
