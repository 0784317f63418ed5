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
