/** The suite's assertions: node:assert/strict plus closeness of float arrays. */
import assert from "node:assert/strict";

export { assert };

/** Asserts |a - b| <= tol elementwise, naming the first index that differs. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol)) {
      assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (|diff| ${d.toExponential(2)} > ${tol})`);
    }
  }
}

/** A closeness tolerance: |actual - expected| <= atol + rtol * |expected| (numpy.isclose's rule). */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Asserts |a - b| <= atol + rtol * |b| elementwise (b: expected), naming the first index that fails. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol, atol }: Tolerance,
  what = "value",
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]), tol = atol + rtol * Math.abs(expected[i]);
    if (!(d <= tol)) {
      assert.fail(
        `${what}[${i}]: ${actual[i]} vs expected ${expected[i]} (|diff| ${d.toExponential(2)} > ` +
          `atol ${atol} + rtol ${rtol} * |expected| = ${tol.toExponential(2)})`,
      );
    }
  }
}

/**
 * The largest |a - b| / (atol + rtol * |b|) over the elements, and where: at most 1 means
 * assertAllClose passes, and its size says how much of the tolerance the data use.
 */
export function worstCloseness(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol, atol }: Tolerance,
): { ratio: number; index: number } {
  assert.equal(actual.length, expected.length);
  let worst = { ratio: 0, index: -1 };
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const ratio = d === 0 ? 0 : Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(expected[i]));
    if (ratio > worst.ratio) worst = { ratio, index: i };
  }
  return worst;
}
