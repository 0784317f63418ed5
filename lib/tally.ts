/**
 * The running tallies of a training epoch, per replica: whether it is alive,
 * its last finite loss and its correct digits. `HostTally` reads each step's
 * numbers at once (backends whose tensors live in CPU memory, where a read is
 * free); `DeviceTally` keeps them on the device and is read every few steps,
 * so a GPU never waits for the CPU between steps. Both give the same numbers.
 */
import { tf } from "./tf.ts";
import type { AliveMask } from "./optim.ts";

/** Tallies of one epoch that `read()` brings into the caller's `alive`, `loss` and `correct` arrays. */
export interface Tally {
  /**
   * Marks replicas whose `stepLoss` is not finite as diverged and returns the
   * mask of those still alive, for the optimizer. Call it inside `tf.tidy`.
   */
  live(stepLoss: tf.Tensor1D): AliveMask;
  /** Records the step's loss and adds its correct digits for the replicas alive. */
  add(stepLoss: tf.Tensor1D, stepRight: tf.Tensor1D): void;
  /** Brings the tallies into the caller's arrays. */
  read(): Promise<void>;
  dispose(): void;
}

/** Tallies kept in the caller's arrays, updated by a synchronous read every step. */
export class HostTally implements Tally {
  #losses: ArrayLike<number> = [];

  constructor(readonly alive: boolean[], readonly loss: number[], readonly correct: number[]) {}

  live(stepLoss: tf.Tensor1D): AliveMask {
    this.#losses = stepLoss.dataSync();
    this.alive.forEach((a, r) => (this.alive[r] = a && Number.isFinite(this.#losses[r])));
    return this.alive;
  }

  add(_stepLoss: tf.Tensor1D, stepRight: tf.Tensor1D): void {
    const right = stepRight.dataSync();
    for (let r = 0; r < this.alive.length; r++) {
      if (!this.alive[r]) continue;
      this.loss[r] = this.#losses[r];
      this.correct[r] += right[r];
    }
  }

  read(): Promise<void> {
    return Promise.resolve();
  }

  dispose(): void {}
}

/**
 * Tallies kept as `[S]` tensors on the device: a 0/1 alive mask, the last
 * finite loss, and correct digits since the last read (summed into the
 * caller's array in float64 at each read, so counts stay exact).
 */
export class DeviceTally implements Tally {
  #alive: tf.Tensor1D;
  #loss: tf.Tensor1D;
  #correct: tf.Tensor1D;

  constructor(readonly alive: boolean[], readonly loss: number[], readonly correct: number[]) {
    this.#alive = tf.tensor1d(alive.map(Number));
    this.#loss = tf.tensor1d(loss);
    this.#correct = tf.zeros([alive.length]);
  }

  live(stepLoss: tf.Tensor1D): AliveMask {
    const next = tf.keep(tf.mul(this.#alive, tf.cast(tf.isFinite(stepLoss), "float32")) as tf.Tensor1D);
    this.#alive.dispose();
    return this.#alive = next;
  }

  add(stepLoss: tf.Tensor1D, stepRight: tf.Tensor1D): void {
    const [loss, correct] = tf.tidy(() => [
      tf.where(tf.cast(this.#alive, "bool"), stepLoss, this.#loss) as tf.Tensor1D,
      tf.add(this.#correct, tf.mul(stepRight, this.#alive)) as tf.Tensor1D,
    ]);
    tf.dispose([this.#loss, this.#correct]);
    [this.#loss, this.#correct] = [loss, correct];
  }

  async read(): Promise<void> {
    const [a, l, c] = await Promise.all([this.#alive.data(), this.#loss.data(), this.#correct.data()]);
    this.#correct.dispose();
    this.#correct = tf.zeros([this.alive.length]);
    for (let r = 0; r < this.alive.length; r++) {
      this.alive[r] = a[r] > 0;
      this.loss[r] = l[r];
      this.correct[r] += c[r];
    }
  }

  dispose(): void {
    tf.dispose([this.#alive, this.#loss, this.#correct]);
  }
}
