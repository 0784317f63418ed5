// mutants: fast 8
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { DeviceTally, HostTally, type Tally } from "../../lib/tally.ts";

await tf.setBackend("cpu");

/**
 * Step losses of 3 replicas over 7 steps: replica 1 diverges at step 3 (its loss before was finite),
 * replica 2 is dead from the start (its flag is false on entry).
 */
const LOSSES = [
  [0.7, 0.6, 0.5],
  [0.6, 0.55, 0.4],
  [0.5, 0.52, 0.3],
  [0.4, NaN, 0.2],
  [0.3, 0.1, Infinity],
  [0.2, 0.1, 0.1],
  [0.1, 0.1, 0.1],
];
const RIGHT = LOSSES.map((_, i) => [10 + i, 20 + i, 30 + i]);

async function run(make: (alive: boolean[], loss: number[], correct: number[]) => Tally, readEvery: number) {
  const alive = [true, true, false], loss = [NaN, NaN, NaN], correct = [0, 0, 0];
  const tally = make(alive, loss, correct);
  const masks: number[][] = [];
  for (const [i, l] of LOSSES.entries()) {
    const stepLoss = tf.tensor1d(l), stepRight = tf.tensor1d(RIGHT[i]);
    const mask = tf.tidy(() => {
      const m = tally.live(stepLoss);
      return m instanceof tf.Tensor ? [...m.dataSync()] : m.map(Number);
    });
    masks.push(mask);
    tally.add(stepLoss, stepRight);
    tf.dispose([stepLoss, stepRight]);
    if ((i + 1) % readEvery === 0 || i + 1 === LOSSES.length) await tally.read();
  }
  tally.dispose();
  return { alive, loss, correct, masks };
}

Deno.test("HostTally and DeviceTally: a replica is frozen from the step its loss is not finite, keeps its last finite loss and counts only its live steps", async () => {
  const before = tf.memory().numTensors;
  const host = await run((a, l, c) => new HostTally(a, l, c), 1);
  assert.deepEqual(host.alive, [true, false, false]);
  assert.deepEqual(host.loss, [Math.fround(0.1), Math.fround(0.52), NaN], "the last finite loss (float32)");
  assert.deepEqual(host.correct, [10 + 11 + 12 + 13 + 14 + 15 + 16, 20 + 21 + 22, 0]);
  assert.deepEqual(host.masks[2], [1, 1, 0]);
  assert.deepEqual(host.masks[3], [1, 0, 0], "the optimizer skips the replica in the step it diverges");
  for (const every of [1, 3, 10]) {
    assert.deepEqual(await run((a, l, c) => new DeviceTally(a, l, c), every), host, `DeviceTally read every ${every}`);
  }
  assert.equal(tf.memory().numTensors, before, "tallies leak tensors");
});
