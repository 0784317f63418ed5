/**
 * The reference training step: tfjs's autodiff around the model's forward
 * pass (whatever layer kernels it runs), BCE-with-logits, per-replica
 * gradient clipping, then the optimizer. Every family runs it today with its
 * own layers and updates; a family that runs the whole step itself (one wasm
 * call, a few GPU dispatches) replaces it behind the same `TrainStep`.
 */
import { tf } from "../../tf.ts";
import { bceWithLogits, correctDigits, perReplica } from "../../loss.ts";
import type { StepInput, StepModel, StepOptimizer, StepOutput } from "../kernel.ts";

/**
 * `torch.nn.utils.clip_grad_norm_` applied to each replica on its own: the
 * global L2 norm over all of a replica's gradients is scaled down to
 * `maxNorm` (coefficient maxNorm / (norm + 1e-6), capped at 1). Returns the
 * clipped gradients and each replica's norm before clipping.
 */
export function clipGradNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norms: tf.Tensor1D } {
  return tf.tidy(() => {
    // Summed pairwise, not with tf.addN: tfjs-webgpu's AddN binds one storage buffer per input and WebGPU
    // allows 8 per stage, so past 7 gradients (2 layers) its sum is silently wrong.
    const squares = grads.map((g) => perReplica(tf.square(g), "sum"));
    const norms = tf.sqrt(squares.reduce((a, b) => tf.add(a, b))) as tf.Tensor1D;
    const coef = tf.minimum(tf.div(maxNorm, tf.add(norms, 1e-6)), 1);
    const clipped = grads.map((g) => tf.mul(g, tf.reshape(coef, [coef.size, ...Array(g.rank - 1).fill(1)])));
    return { grads: clipped, norms };
  });
}

/**
 * One training step by autodiff. The loss differentiated is the sum of the
 * replicas' mean losses, so each replica's gradient is exactly its own; the
 * state goes in as a constant (truncated BPTT: no gradient flows into it).
 */
export function autogradStep(model: StepModel, optimizer: StepOptimizer, input: StepInput): StepOutput {
  let state: tf.Tensor3D[] = [];
  let loss!: tf.Tensor1D, right!: tf.Tensor1D;
  tf.tidy(() => {
    const vars = model.variables;
    const { grads } = tf.variableGrads(() => {
      const out = model.forward(input.x, input.state);
      state = out.state.map((t) => tf.keep(t));
      loss = tf.keep(bceWithLogits(out.logits, input.y));
      right = tf.keep(correctDigits(out.logits, input.y));
      return tf.sum(loss) as tf.Scalar;
    }, vars);
    const raw = vars.map((v) => grads[v.name]);
    const applied = input.clip ? clipGradNorm(raw, input.clip).grads : raw;
    optimizer.step(applied, input.live(loss));
    input.onGrads?.(raw, applied, loss);
  });
  return { loss, right, state };
}
