import { assert, assertClose } from "./_assert.ts";
import { median, quantile, wilson } from "../lib/stats.ts";

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
