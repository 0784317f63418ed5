import { assert, assertClose } from "../_assert.ts";
import { fisherExact, median, quantile, wilson } from "../../lib/stats.ts";

Deno.test("Wilson interval on known values", () => {
  // Reference values: the Wilson formula evaluated in Python with z = 1.959963984540054.
  assertClose(wilson(5, 10), [0.236593, 0.763407], 1e-6, "5/10");
  assertClose(wilson(0, 20), [0, 0.161125], 1e-6, "0/20");
  assertClose(wilson(20, 20), [0.838875, 1], 1e-6, "20/20");
  assertClose(wilson(3, 20), [0.052369, 0.360419], 1e-6, "3/20");
  assert.throws(() => wilson(3, 2), /0 <= k <= n/);
});

Deno.test("quantiles interpolate like NumPy", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
  assertClose([quantile([10, 20, 30, 40], 0.75)], [32.5], 1e-12);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("Fisher's exact test matches exact rational hypergeometric sums", () => {
  // Reference: Python's fractions.Fraction and math.comb, summing the exact probabilities of every table no more
  // likely than the observed one (independent of the log-factorial code under test).
  const cases: [number, number, number, number, number][] = [
    [3, 10, 7, 10, 0.17889540799757517],
    [1, 9, 11, 14, 0.0027594561852200836],
    [0, 20, 5, 20, 0.04712404712404712],
    [8, 20, 4, 20, 0.3008447824910561],
    [25, 100, 40, 100, 0.034143802314768816],
    [30, 100, 30, 100, 1],
    [0, 5, 0, 5, 1],
    [100, 100, 85, 100, 3.463411871299436e-05],
    [2, 3, 0, 4, 0.14285714285714285],
  ];
  for (const [k1, n1, k2, n2, p] of cases) {
    assertClose([fisherExact(k1, n1, k2, n2)], [p], p * 1e-9, `fisherExact(${k1}, ${n1}, ${k2}, ${n2})`);
    assertClose([fisherExact(k2, n2, k1, n1)], [p], p * 1e-9, "symmetric in the groups");
  }
  assert.throws(() => fisherExact(3, 2, 0, 1), /0 <= k <= n/);
});
