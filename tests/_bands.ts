/** Bands for many-replica regression tests: binomial quantiles and the rate PyTorch measured. */
import { parse } from "csv-parse/sync";
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
export function torchSuccesses(config: string, mode: string): { k: number; n: number; files: string[] } {
  const dir = new URL("../results/parity/torch/", import.meta.url);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((f) => f.startsWith(`${config}-${mode}-`)).sort();
  const rows = files.flatMap((f) =>
    parse(Deno.readTextFileSync(new URL(f, dir)), { columns: true }) as Record<string, string>[]
  );
  const seeds = new Map(rows.map((r) => [r.seed, Number(r.test_acc)]));
  return { k: [...seeds.values()].filter((a) => a >= 99).length, n: seeds.size, files };
}
