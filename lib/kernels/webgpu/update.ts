/**
 * RMSprop and Adam updates as WebGPU compute programs: each new moment and
 * each new parameter is one dispatch that also applies the alive mask, where
 * the op-level update (`../op/update.ts`) costs about fourteen tfjs ops per
 * parameter. PyTorch's rules, as there; float32, like the op-level path on this backend.
 *
 * Not the optimizers' state and defaults (`../../optim.ts`) nor the layers
 * (`layer.ts`).
 */
import { tf } from "../../tf.ts";
import { type ProgramUniforms, runProgram, type WebGpuProgram } from "./program.ts";
import { VariableMoments } from "../op/update.ts";
import type { AdamRule, AliveMask, RmspropRule, UpdateKernel } from "../kernel.ts";

const GROUP = 64;

/** A WGSL float literal of `x`. */
const wgslFloat = (x: number) => x.toExponential();

/** What {@linkcode masked} builds. */
interface MaskedSpec {
  /** Names the program in tfjs's pipeline cache, with the size and `expr`. */
  key: string;
  /** The output's shape, replica-stacked (leading axis S). */
  shape: number[];
  /** The inputs `expr` reads, the kept value (the old one, where a replica is dead) first; `alive` is added last. */
  names: string[];
  /** WGSL for the new value of element `i`. */
  expr: string;
  /** Uniform fields `expr` reads as `uniforms.name`, in WGSL struct syntax (`"a : f32,"`). */
  uniforms?: string;
}

/**
 * An elementwise program over a replica-stacked tensor: `expr` is the new
 * value of element `i`, kept only where `alive[i / PER]` is 1, PER being the
 * elements per replica.
 */
function masked({ key, shape, names, expr, uniforms }: MaskedSpec): WebGpuProgram {
  const size = shape.reduce((a, b) => a * b, 1);
  const kept = names[0];
  return {
    outputShape: shape,
    // The constants written into the code (lr, alpha, betas, eps) are part of the key: tfjs caches pipelines by it.
    shaderKey: `echolab_${key}_${size}_${shape[0]}_${expr}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(size / GROUP), 1, 1],
    workgroupSize: [GROUP, 1, 1],
    variableNames: [...names, "alive"],
    size: true,
    uniforms,
    getUserCode: () => `
const PER = ${size / shape[0]};
fn main(index: i32) {
  if (index < uniforms.size) {
    let i = index;
    result[i] = select(${kept}[i], ${expr}, alive[i / PER] > 0.0);
  }
}
`,
  };
}

/**
 * `torch.optim.RMSprop`'s update: returns [new v, new p] for parameter `p`,
 * gradient `g` and squared-gradient average `v`, replicas where `alive` is 0
 * left as they are.
 */
export function rmspropStep({ p, g, v, alive, rule }: {
  p: tf.Tensor;
  g: tf.Tensor;
  v: tf.Tensor;
  alive: tf.Tensor1D;
  rule: { lr: number; alpha: number; eps: number };
}): [tf.Tensor, tf.Tensor] {
  const vNext = runProgram(
    masked({
      key: "rmsprop_v",
      shape: v.shape,
      names: ["v", "g"],
      expr: `${wgslFloat(rule.alpha)} * v[i] + ${wgslFloat(1 - rule.alpha)} * g[i] * g[i]`,
    }),
    [v, g, alive],
  );
  const pNext = runProgram(
    masked({
      key: "rmsprop_p",
      shape: p.shape,
      names: ["p", "g", "vNext"],
      expr: `p[i] - ${wgslFloat(rule.lr)} * g[i] / (sqrt(vNext[i]) + ${wgslFloat(rule.eps)})`,
    }),
    [p, g, vNext, alive],
  );
  return [vNext, pNext];
}

/**
 * `torch.optim.Adam`'s update at step t, with bias corrections c1 = 1 - beta1^t
 * and c2 = 1 - beta2^t: returns [new m, new v, new p] for parameter `p`,
 * gradient `g`, moments `m` and `v`, replicas where `alive` is 0 left as they are.
 */
export function adamStep({ p, g, m, v, alive, rule }: {
  p: tf.Tensor;
  g: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
  alive: tf.Tensor1D;
  rule: { lr: number; beta1: number; beta2: number; eps: number; c1: number; c2: number };
}): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const mNext = runProgram(
    masked({
      key: "adam_m",
      shape: m.shape,
      names: ["m", "g"],
      expr: `${wgslFloat(rule.beta1)} * m[i] + ${wgslFloat(1 - rule.beta1)} * g[i]`,
    }),
    [m, g, alive],
  );
  const vNext = runProgram(
    masked({
      key: "adam_v",
      shape: v.shape,
      names: ["v", "g"],
      expr: `${wgslFloat(rule.beta2)} * v[i] + ${wgslFloat(1 - rule.beta2)} * g[i] * g[i]`,
    }),
    [v, g, alive],
  );
  // Bias corrections change every step: uniforms, so the pipeline compiles once. The step size is lr / c1.
  const corrections: ProgramUniforms = [
    { type: "float32", data: [rule.lr / rule.c1] },
    { type: "float32", data: [Math.sqrt(rule.c2)] },
  ];
  const pNext = runProgram(
    masked({
      key: "adam_p",
      shape: p.shape,
      names: ["p", "mNext", "vNext"],
      expr: `p[i] - uniforms.stepSize * (mNext[i] / (sqrt(vNext[i]) / uniforms.sqrtC2 + ${wgslFloat(rule.eps)}))`,
      uniforms: "stepSize : f32, sqrtC2 : f32,",
    }),
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

/**
 * One optimizer step as the fused training step (`step.ts`) takes it: the
 * optimizer's variables, its rule for this step (Adam's bias corrections
 * counted) and its moments, which the step updates itself.
 */
export type CapturedUpdate =
  | { kind: "rmsprop"; vars: tf.Variable[]; rule: RmspropRule; sq: tf.Variable[] }
  | { kind: "adam"; vars: tf.Variable[]; rule: AdamRule; m: tf.Variable[]; v: tf.Variable[] };

let capturing: ((u: CapturedUpdate) => void) | null = null;

/**
 * Runs `step` (an optimizer's `step([])` on this family) with the update
 * captured instead of applied: the optimizer counts the step and hands over
 * its rule and moments, and no program runs. Undefined where `step` did not
 * reach this family's update. (`StepOptimizer.nextUpdate` gives the CPU
 * family's moments as Float32Arrays; this is its WebGPU counterpart until
 * that interface takes moments of every family.)
 */
export function captureUpdate(step: () => void): CapturedUpdate | undefined {
  let got: CapturedUpdate | undefined;
  capturing = (u) => (got = u);
  try {
    step();
  } finally {
    capturing = null;
  }
  return got;
}

/** RMSprop and Adam as WGSL programs, moments as tfjs variables on the device. */
export const webgpuUpdate: UpdateKernel = {
  zeros: (vars) => new VariableMoments(vars),

  rmsprop(vars, grads, sq, alive, rule) {
    const squares = (sq as VariableMoments).values;
    if (capturing) return capturing({ kind: "rmsprop", vars, rule, sq: squares });
    tf.tidy(() => {
      const mask = maskValues(alive, vars[0].shape[0]);
      vars.forEach((p, i) => {
        const [v, next] = rmspropStep({ p, g: grads[i], v: squares[i], alive: mask, rule });
        squares[i].assign(v);
        p.assign(next);
      });
    });
  },

  adam(vars, grads, m, v, alive, rule) {
    const firsts = (m as VariableMoments).values, seconds = (v as VariableMoments).values;
    if (capturing) return capturing({ kind: "adam", vars, rule, m: firsts, v: seconds });
    tf.tidy(() => {
      const mask = maskValues(alive, vars[0].shape[0]);
      vars.forEach((p, i) => {
        const [first, second, next] = adamStep({ p, g: grads[i], m: firsts[i], v: seconds[i], alive: mask, rule });
        firsts[i].assign(first);
        seconds[i].assign(second);
        p.assign(next);
      });
    });
  },
};
