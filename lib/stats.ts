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

/**
 * Fisher's exact test, two-sided, for the 2x2 table of k1 successes in n1
 * trials against k2 in n2 (e.g. two implementations' seeds reaching 99%).
 * Conditioning on the margins, the successes of the first group follow a
 * hypergeometric law; the p-value sums the probabilities of every table no
 * more likely than the observed one (with a relative tolerance of 1e-7 for
 * ties, as R's fisher.test and SciPy's fisher_exact). Exact sums of log
 * factorials, so any n up to millions. Returns p in [0, 1].
 */
export function fisherExact(k1: number, n1: number, k2: number, n2: number): number {
  for (const [k, n] of [[k1, n1], [k2, n2]]) {
    if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0 || k < 0 || k > n) {
      throw new RangeError(`fisherExact: need integers 0 <= k <= n; got k1=${k1}, n1=${n1}, k2=${k2}, n2=${n2}`);
    }
  }
  const N = n1 + n2, K = k1 + k2;
  const logFact = new Float64Array(N + 1);
  for (let i = 2; i <= N; i++) logFact[i] = logFact[i - 1] + Math.log(i);
  const logChoose = (n: number, k: number) => logFact[n] - logFact[k] - logFact[n - k];
  const logP = (x: number) => logChoose(K, x) + logChoose(N - K, n1 - x) - logChoose(N, n1);
  const observed = logP(k1);
  let p = 0;
  for (let x = Math.max(0, n1 - (N - K)); x <= Math.min(K, n1); x++) {
    const lp = logP(x);
    if (lp <= observed + Math.log1p(1e-7)) p += Math.exp(lp);
  }
  return Math.min(1, p);
}
