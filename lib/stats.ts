/** Small statistics for many-seed summaries. */

/**
 * Wilson score interval for a binomial proportion: k successes in n trials,
 * `z` the standard normal quantile (default: 95%). Returns [low, high] in [0, 1];
 * unlike the normal approximation it stays inside [0, 1] and is sensible at
 * k = 0 or k = n, which small seed counts hit often.
 */
export function wilson(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 1 || k < 0 || k > n) {
    throw new RangeError(`wilson: need integers 0 <= k <= n, n >= 1; got k=${k}, n=${n}`);
  }
  const p = k / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** The q-quantile (0..1) with linear interpolation between order statistics (NumPy's default). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The median, NaN for no values. */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}
