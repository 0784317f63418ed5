/** Bands for many-replica regression tests: binomial quantiles and the rate PyTorch measured. */
import { readSeedRows } from "../lib/parity.ts";
import { SUCCESS_ACCURACY } from "../lib/experiment.ts";
import { wilson } from "../lib/stats.ts";

/** Smallest k with P(X <= k) >= q for X ~ Binomial(n, p). */
export function binomialQuantile(n: number, p: number, q: number): number {
  let pmf = (1 - p) ** n, cdf = pmf;
  for (let k = 0; k < n; k++) {
    if (cdf >= q) return k;
    pmf *= ((n - k) / (k + 1)) * (p / (1 - p));
    cdf += pmf;
  }
  return n;
}

/**
 * The success counts out of `n` replicas that a rate of `k` in `trials` allows:
 * the 99.9% Wilson interval of that rate, widened by the 0.05% / 99.95%
 * binomial quantiles of `n` draws at its ends. A count outside it means the
 * rates differ, not bad luck (about 1 in 1,000 for each side).
 */
export function countBand(k: number, trials: number, n: number): [number, number] {
  const [lo, hi] = wilson(k, trials, 3.2905267314919255);
  return [binomialQuantile(n, lo, 0.0005), binomialQuantile(n, hi, 0.9995)];
}

/** Successes (test accuracy >= 99%) of the notebook's PyTorch code in the committed exp:parity runs. */
export function torchSuccesses(config: string, mode: string): { k: number; n: number } {
  const rows = readSeedRows(new URL("../results/parity/torch", import.meta.url).pathname)
    .filter((r) => r.side === "torch" && r.config === config && r.mode === mode);
  return { k: rows.filter((r) => r.test_acc >= SUCCESS_ACCURACY).length, n: rows.length };
}
