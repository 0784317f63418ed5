/**
 * The notebook's `train(hidden)` and `test(hidden)` for S replicas at once,
 * and its random-sequence check: chunks in order, the state carried from
 * chunk to chunk and epoch to epoch, each step run by the model's kernel
 * (lib/kernels/), tallies read back every step or every few. Not the printing
 * and CSV of a run (lib/experiment.ts).
 */
import { tf } from "./tf.ts";
import type { EchoData } from "./echo_data.ts";
import type { SimpleRNN, State } from "./models.ts";
import { correctDigits } from "./loss.ts";
import type { Optimizer } from "./optim.ts";
import { echoBits, streamKey } from "./echo_bits.ts";
import { tensorsOnHost } from "./backend.ts";
import { DeviceTally, HostTally } from "./tally.ts";

/** Chunk `index` of every replica's data as `[S, B, T, 1]` inputs and targets. */
export function stackChunks(datas: EchoData[], index: number): { x: tf.Tensor4D; y: tf.Tensor4D } {
  const chunks = datas.map((d) => d.chunk(index));
  const { batchSize: B, truncatedLength: T } = datas[0];
  const x = new Float32Array(datas.length * B * T), y = new Float32Array(datas.length * B * T);
  chunks.forEach((c, r) => {
    x.set(c.x, r * B * T);
    y.set(c.y, r * B * T);
  });
  return { x: tf.tensor4d(x, [datas.length, B, T, 1]), y: tf.tensor4d(y, [datas.length, B, T, 1]) };
}

/** Called after every read of the device (every step on CPU backends) with running means over the replicas alive. */
export type OnStep = (done: number, total: number, loss: number, accuracy: number) => void;

/**
 * Steps between reads of losses and counts on backends whose tensors live on
 * a GPU, where a read waits for the device to finish: reads every few steps
 * let it queue work ahead. Results do not depend on it; progress does.
 */
export const GPU_READ_EVERY = 10;

/** Options of {@linkcode trainEpoch}. */
export interface TrainOptions {
  /** Global gradient-norm clipping per replica; 0 or undefined disables it. */
  clip?: number;
  /**
   * Replicas still training, one flag each. A replica whose loss turns NaN or
   * Inf is set false here and keeps its parameters from then on. Default: all.
   */
  alive?: boolean[];
  onStep?: OnStep;
  /**
   * Steps between reads from a GPU backend. Default {@linkcode GPU_READ_EVERY}.
   * On cpu and wasm every step is read whatever this says (a read is free
   * there). Results do not depend on it.
   */
  readEvery?: number;
  /**
   * A debug hook (tests/kernels/equivalence_test.ts): called every step inside its
   * `tf.tidy`, after the optimizer's update, with the loss's gradients (one
   * per variable, in `model.variables` order), the gradients the update
   * applied (clipped where `clip` is set) and each replica's loss. They are
   * freed after it returns: `tf.keep(tf.clone(t))` what you keep.
   */
  onGrads?: (grads: tf.Tensor[], applied: tf.Tensor[], loss: tf.Tensor1D) => void;
}

/** What one pass over the data measured, per replica. */
export interface EpochResult {
  /** Digits predicted right. */
  correct: number[];
  /** Loss of the last chunk (what the notebook prints). */
  loss: number[];
  /** Digits seen per replica (chunks x batch x T). */
  digits: number;
  /** The final state, owned by the caller. */
  state: tf.Tensor3D[];
}

function disposeState(state: State): void {
  if (state) tf.dispose(state);
}

function defaultReadEvery(): number {
  return tensorsOnHost() ? 1 : GPU_READ_EVERY;
}

/**
 * One epoch of the notebook's `train(hidden)`: chunks in order, mean
 * BCE-with-logits, one optimizer step per chunk, and the state of each chunk
 * carried into the next as a constant (truncated BPTT: no gradient flows
 * through it). Takes ownership of `state` and returns the final one.
 *
 * The loss differentiated is the sum of the replicas' mean losses, so each
 * replica's gradient is exactly its own. A replica whose loss is not finite
 * is frozen from the step it diverged in. On a GPU the tallies (alive, loss,
 * correct digits) stay on the device and are read every `readEvery` steps
 * (`lib/tally.ts`), so the GPU never waits for the CPU between steps. Where
 * the kernel runs whole epochs (`Kernel.epoch`: the CPU family's wasm module)
 * and no `onGrads` hook is set, the epoch is its, with the same results; its
 * tallies are read every few chunks (`onStep` then) and after the last.
 */
export async function trainEpoch(
  model: SimpleRNN,
  optimizer: Optimizer,
  datas: EchoData[],
  state: State,
  opts: TrainOptions = {},
): Promise<EpochResult> {
  const S = model.replicas, n = datas[0].length;
  const alive = opts.alive ?? Array(S).fill(true);
  const correct = Array(S).fill(0), loss = Array(S).fill(NaN);
  const onCpu = tensorsOnHost();
  const { step, epoch, family } = model.kernelChoice().kernel;
  const perStep = datas[0].batchSize * datas[0].truncatedLength;
  const report = (done: number) => {
    if (!opts.onStep) return;
    const live = alive.map((a, r) => (a ? r : -1)).filter((r) => r >= 0);
    const meanLoss = live.reduce((a, r) => a + loss[r], 0) / Math.max(1, live.length);
    const meanAcc = live.reduce((a, r) => a + correct[r], 0) / Math.max(1, live.length) / (done * perStep) * 100;
    opts.onStep(done, n, meanLoss, meanAcc);
  };
  // The kernel's whole epoch where it has one (the same steps, parameters and state kept to itself between
  // chunks, tallies read every few), unless the debug hook needs each step's gradients.
  const whole = epoch && (onCpu || family === "webgpu") && !opts.onGrads
    ? await epoch(model, optimizer, { datas, state, clip: opts.clip, alive, loss, correct, onRead: report })
    : null;
  if (whole) {
    disposeState(state);
    return { correct, loss, digits: n * perStep, state: whole.state };
  }
  const tally = onCpu ? new HostTally(alive, loss, correct) : new DeviceTally(alive, loss, correct);
  const every = onCpu ? 1 : Math.max(1, opts.readEvery ?? GPU_READ_EVERY);
  for (let i = 0; i < n; i++) {
    const { x, y } = stackChunks(datas, i);
    const out = step(model, optimizer, {
      x,
      y,
      state,
      clip: opts.clip,
      live: (stepLoss) => tally.live(stepLoss),
      onGrads: opts.onGrads,
    });
    tf.dispose([x, y]);
    const [stepLoss, stepRight, next] = [out.loss, out.right, out.state];
    tally.add(stepLoss, stepRight);
    tf.dispose([stepLoss, stepRight]);
    disposeState(state);
    state = next;
    if ((i + 1) % every !== 0 && i + 1 !== n) continue;
    await tally.read();
    report(i + 1);
  }
  tally.dispose();
  return { correct, loss, digits: n * perStep, state: state! };
}

/**
 * The notebook's `test(hidden)`: a pass without gradients, state carried.
 * Takes ownership of `state`. Counts are read every `readEvery` steps, as in
 * {@linkcode trainEpoch}.
 */
export async function testEpoch(
  model: SimpleRNN,
  datas: EchoData[],
  state: State,
  onStep?: OnStep,
  readEvery = defaultReadEvery(),
): Promise<{ correct: number[]; digits: number; state: tf.Tensor3D[] }> {
  const S = model.replicas, n = datas[0].length;
  const correct = Array(S).fill(0);
  const perStep = datas[0].batchSize * datas[0].truncatedLength;
  let correctT: tf.Tensor1D = tf.zeros([S]);
  for (let i = 0; i < n; i++) {
    const [sum, next] = tf.tidy(() => {
      const { x, y } = stackChunks(datas, i);
      const out = model.forward(x, state);
      return [tf.add(correctT, correctDigits(out.logits, y)) as tf.Tensor1D, out.state] as const;
    });
    correctT.dispose();
    correctT = sum;
    disposeState(state);
    state = next;
    if ((i + 1) % readEvery !== 0 && i + 1 !== n) continue;
    const r = await correctT.data();
    for (let k = 0; k < S; k++) correct[k] += r[k];
    correctT.dispose();
    correctT = tf.zeros([S]);
    onStep?.(i + 1, n, NaN, correct.reduce((a, b) => a + b, 0) / S / ((i + 1) * perStep) * 100);
  }
  correctT.dispose();
  return { correct, digits: n * perStep, state: state! };
}

/** Result of {@linkcode echoCheck} for one replica. */
export interface EchoCheck {
  input: Uint8Array;
  output: Uint8Array;
  /** Positions echoStep..length-1 where the output equals the input shifted right with zero fill. */
  correct: number;
  /** How many positions were checked: length - echoStep. */
  checked: number;
}

/**
 * Notebook cells 13-16: one random bit sequence from a zero state, and the
 * count of correctly echoed digits at positions echoStep..length-1. The
 * sequence of replica r comes from its seed, so a seed reproduces it.
 */
export async function echoCheck(
  model: SimpleRNN,
  seeds: number[],
  echoStep: number,
  length = 100,
): Promise<EchoCheck[]> {
  const S = model.replicas;
  const inputs = seeds.map((seed) => {
    const bits = new Uint8Array(length);
    echoBits({ seed, stream: streamKey("echo-check"), draw: 0, row: 0 }, length, bits);
    return bits;
  });
  const logits = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(inputs.flatMap((a) => [...a])), [S, 1, length, 1]);
    return model.forward(x, null).logits;
  });
  const z = await logits.data();
  logits.dispose();
  return inputs.map((input, r) => {
    const output = Uint8Array.from({ length }, (_, t) => (z[r * length + t] > 0 ? 1 : 0));
    let correct = 0;
    for (let t = echoStep; t < length; t++) if (output[t] === input[t - echoStep]) correct++;
    return { input, output, correct, checked: length - echoStep };
  });
}
