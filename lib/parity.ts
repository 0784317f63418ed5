/**
 * Parity between the notebook's PyTorch code and echolab over many seeds:
 * the configurations, the per-seed CSV rows both sides write, and the
 * summary (success rates with Wilson intervals, Fisher's exact test between
 * the sides, and the distribution of final test accuracy by plateau).
 */
import { DATA_GENERATOR, DATA_GENERATORS } from "./echo_bits.ts";
import { parse } from "csv-parse/sync";
import { SUCCESS_ACCURACY } from "./experiment.ts";
import { MAX_SEED } from "./cli.ts";
import {
  type CsvRow,
  type CsvSchema,
  type CsvTable,
  decimal,
  intIn,
  matching,
  nonNegative,
  numberIn,
  oneOfList,
  orEmpty,
  parseCsv,
  ReadbackError,
  readBoundedText,
  type TableProblem,
} from "./readback.ts";
import { fisherExact, median, wilson } from "./stats.ts";

/** One configuration both sides train (the notebook's data: batch 5, series 20000, T 20, RMSprop lr 0.001). */
export interface ParityConfig {
  id: string;
  /** The echolab experiment script that runs it. */
  script: string;
  echoStep: number;
  hidden: number;
  cell: "rnn" | "lstm";
  epochs: number;
  /** Seeds per side and data mode. */
  seeds: number;
}

/** The data modes: upstream's (a new series at chunk 0 of every epoch) and one series for every epoch. */
export const MODES = ["regen", "fixed"] as const;
export type Mode = (typeof MODES)[number];

/** The sides compared. */
export const SIDES = ["torch", "echolab"] as const;
export type Side = (typeof SIDES)[number];

/** Columns of every per-seed CSV, both sides. */
export const PER_SEED_COLUMNS = [
  "side",
  "config",
  "mode",
  "data_generator",
  "seed",
  "train_loss",
  "train_acc",
  "test_acc",
  "seconds",
] as const;

/**
 * The data generator of PyTorch's side: the notebook's own `EchoData`, drawing
 * with NumPy's legacy global `np.random` (MT19937) seeded per seed.
 */
export const TORCH_DATA_GENERATOR = "numpy-mt19937";

/** Generators a per-seed row may name, by side. */
const GENERATORS_BY_SIDE: Record<Side, readonly string[]> = {
  torch: [TORCH_DATA_GENERATOR],
  echolab: DATA_GENERATORS,
};

/** One seed's outcome, as read back from a per-seed CSV. */
export interface SeedRow {
  side: Side;
  config: string;
  mode: Mode;
  data_generator: string;
  seed: number;
  train_loss: number;
  train_acc: number;
  /** NaN for a diverged echolab replica (counted as a failure). */
  test_acc: number;
  seconds: number;
}

/** Plateaus of final test accuracy (%): [label, low inclusive, high exclusive]. */
export const BINS: readonly [string, number, number][] = [
  ["<55", -Infinity, 55],
  ["55-65", 55, 65],
  ["65-80", 65, 80],
  ["80-90", 80, 90],
  ["90-99", 90, SUCCESS_ACCURACY],
  [">=99", SUCCESS_ACCURACY, Infinity],
];

/** The plateau label of a test accuracy; a diverged replica (NaN) falls in the lowest. */
export function plateau(acc: number): string {
  if (!Number.isFinite(acc)) return BINS[0][0];
  return BINS.find(([, lo, hi]) => acc >= lo && acc < hi)![0];
}

/** Seeds `1..n` that shard `i` of `n` runs (round-robin, so shards get a mix of seeds). */
export function shardSeeds(total: number, shard: number, shards: number): number[] {
  return Array.from({ length: total }, (_, k) => k + 1).filter((_, k) => k % shards === shard - 1);
}

/** Splits `list` round-robin into at most `parts` non-empty parts. */
export function splitRoundRobin<T>(list: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: Math.max(1, Math.min(parts, list.length)) }, () => []);
  list.forEach((x, i) => out[i % out.length].push(x));
  return out.filter((p) => p.length > 0);
}

const configRule = matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a config id of letters, digits, '.', '_' or '-'");

/**
 * A per-seed CSV, either side: one config and data mode per file, each seed
 * once; accuracies in % ([0, 100]). PyTorch fills every field; echolab leaves
 * train loss and both accuracies empty for a seed that diverged.
 */
export const PER_SEED_CSV: CsvSchema = {
  kind: "per-seed parity CSV",
  columns: PER_SEED_COLUMNS,
  rules: {
    side: oneOfList(SIDES),
    config: configRule,
    mode: oneOfList(MODES),
    data_generator: (v, r) => {
      const ok = GENERATORS_BY_SIDE[r.side as Side] ?? [];
      return ok.includes(v) ? null : `one of ${ok.join(", ")} on a ${r.side} row`;
    },
    seed: intIn(0, MAX_SEED),
    train_loss: orEmpty(nonNegative),
    train_acc: orEmpty(numberIn(0, 100)),
    test_acc: orEmpty(numberIn(0, 100)),
    seconds: nonNegative,
  },
  key: (r) => `seed ${r.seed}`,
  constant: ["side", "config", "mode", "data_generator"],
  row: (r) => {
    const empty = (["train_loss", "train_acc", "test_acc"] as const).filter((c) => r[c] === "");
    if (empty.length === 0 || (empty.length === 3 && r.side === "echolab")) return null;
    return r.side === "torch"
      ? `${empty[0]} must be filled on a PyTorch row, got ""`
      : `train_loss, train_acc and test_acc must be all filled or all empty (a diverged seed), got ${
        empty.join(", ")
      } empty`;
  },
};

/**
 * Parses one per-seed CSV's text, checking every row ({@linkcode PER_SEED_CSV});
 * `file` names it in errors. A CSV whose header does not start with `side,`
 * (an experiment log, an empty file a job was killed before filling) gives no
 * rows; one that does but is not a per-seed CSV, or holds a bad row, throws
 * a {@linkcode ReadbackError}.
 */
export function parseSeedCsv(text: string, file = "per-seed CSV"): SeedRow[] {
  if (!text.startsWith(`${PER_SEED_COLUMNS[0]},`)) return [];
  const num = (s: string) => (s === "" ? NaN : Number(s));
  return parseCsv(text, file, PER_SEED_CSV, 0).rows.map((r) => ({
    side: r.side as Side,
    config: r.config,
    mode: r.mode as Mode,
    data_generator: r.data_generator,
    seed: Number(r.seed),
    train_loss: num(r.train_loss),
    train_acc: num(r.train_acc),
    test_acc: num(r.test_acc),
    seconds: num(r.seconds),
  }));
}

/**
 * Reads every per-seed CSV under `dir` (recursively; experiment logs and
 * summaries are skipped by their headers), each row checked, and keeps one
 * row per side, config, mode and seed (the first found, files in name order:
 * a rerun of a seed in a later file is left out).
 */
export function readSeedRows(dir: string): SeedRow[] {
  const rows: SeedRow[] = [];
  const walk = (d: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".csv") && e.name !== "summary.csv") {
        rows.push(...parseSeedCsv(readBoundedText(path, PER_SEED_CSV.kind), path));
      }
    }
  };
  walk(dir);
  const seen = new Set<string>();
  return rows.filter((r) => {
    const key = `${r.side}/${r.config}/${r.mode}/${r.seed}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Turns an echolab experiment CSV (rows of every epoch, then a `test` row
 * per replica) into per-seed rows: the last epoch's train loss and accuracy,
 * the test accuracy (empty when diverged), and the run's wall time divided
 * by its replicas (they train together, so a seed has no time of its own).
 */
export function echolabSeedRows(text: string, config: string, mode: Mode): Record<string, string | number>[] {
  const rows = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const tests = rows.filter((r) => r.phase === "test");
  const seconds = rows.filter((r) => r.phase === "train" && r.seed === tests[0]?.seed)
    .reduce((s, r) => s + Number(r.seconds), 0) + Number(tests[0]?.seconds ?? 0);
  return tests.map((t) => {
    const last = rows.filter((r) => r.phase === "train" && r.seed === t.seed).pop();
    return {
      side: "echolab",
      config,
      mode,
      data_generator: DATA_GENERATOR,
      seed: Number(t.seed),
      train_loss: last?.train_loss ?? "",
      train_acc: last?.train_acc ?? "",
      test_acc: t.test_acc,
      seconds: (seconds / tests.length).toFixed(3),
    };
  });
}

/** One line of the summary: a side of one configuration and data mode. */
export interface ParitySummary {
  config: string;
  mode: Mode;
  side: Side;
  n: number;
  successes: number;
  rate: number;
  ci_low: number;
  ci_high: number;
  /** Fisher's exact two-sided p for torch against echolab in this config and mode (NaN if a side has no seeds). */
  fisher_p: number;
  /** Median final test accuracy %, a diverged seed counting as 0. */
  test_acc_median: number;
  /** Seeds per plateau, in {@linkcode BINS} order, keyed by label. */
  bins: Record<string, number>;
}

/** Summarises per-seed rows; configs in `order` first, then any others by name. */
export function summariseParity(rows: SeedRow[], order: string[] = []): ParitySummary[] {
  const configs = [...new Set(rows.map((r) => r.config))].sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || a.localeCompare(b);
  });
  const out: ParitySummary[] = [];
  for (const config of configs) {
    for (const mode of MODES) {
      const bySide = SIDES.map((side) => rows.filter((r) => r.config === config && r.mode === mode && r.side === side));
      for (const side of bySide) {
        const generators = [...new Set(side.map((r) => r.data_generator))];
        if (generators.length > 1) {
          throw new ReadbackError(
            `${config} ${mode}: ${side[0].side} seeds from data generators ${generators.join(" and ")} ` +
              `are not summarised together; move one generator's files out of the folder`,
          );
        }
      }
      if (bySide.every((s) => s.length === 0)) continue;
      const k = bySide.map((s) => s.filter((r) => r.test_acc >= SUCCESS_ACCURACY).length);
      const p = bySide.every((s) => s.length > 0) ? fisherExact(k[0], bySide[0].length, k[1], bySide[1].length) : NaN;
      SIDES.forEach((side, i) => {
        const n = bySide[i].length;
        const [lo, hi] = n ? wilson(k[i], n) : [NaN, NaN];
        const bins = Object.fromEntries(BINS.map(([label]) => [label, 0]));
        for (const r of bySide[i]) bins[plateau(r.test_acc)]++;
        out.push({
          config,
          mode,
          side,
          n,
          successes: k[i],
          rate: n ? k[i] / n : NaN,
          ci_low: lo,
          ci_high: hi,
          fisher_p: p,
          test_acc_median: median(bySide[i].map((r) => (Number.isFinite(r.test_acc) ? r.test_acc : 0))),
          bins,
        });
      });
    }
  }
  return out;
}

/** Columns of summary.csv, as {@linkcode summaryCsvRows} fills them: one `acc_<label>` per plateau. */
export const SUMMARY_COLUMNS: readonly string[] = [
  "config",
  "mode",
  "side",
  "n",
  "successes",
  "rate",
  "ci_low",
  "ci_high",
  "fisher_p",
  "test_acc_median",
  ...BINS.map(([label]) => `acc_${label}`),
];

const probability = orEmpty(numberIn(0, 1));

/**
 * summary.csv: a row per config, data mode and side; rates and intervals in
 * [0, 1] at 4 decimals, the median test accuracy in % ([0, 100]), all empty
 * for a side with no seeds; plateau counts that add up to n.
 */
export const PARITY_SUMMARY_CSV: CsvSchema = {
  kind: "parity summary CSV",
  columns: SUMMARY_COLUMNS,
  rules: {
    config: configRule,
    mode: oneOfList(MODES),
    side: oneOfList(SIDES),
    n: intIn(0, 1_000_000),
    successes: intIn(0, 1_000_000),
    rate: probability,
    ci_low: probability,
    ci_high: probability,
    fisher_p: probability,
    test_acc_median: orEmpty(numberIn(0, 100)),
    ...Object.fromEntries(BINS.map(([label]) => [`acc_${label}`, intIn(0, 1_000_000)])),
  },
  key: (r) => `${r.config} ${r.mode} ${r.side}`,
  row: (r: CsvRow) => {
    const n = +r.n, k = +r.successes;
    if (k > n) return `successes ${k} is more than n ${n}`;
    // A side with no seeds has no rate, interval or median; one with seeds has all of them.
    const wrong = (["rate", "ci_low", "ci_high", "test_acc_median"] as const).find((c) => (r[c] === "") !== (n === 0));
    if (wrong) return `${wrong} must be ${n === 0 ? "empty when n is 0" : "filled when n > 0"}, got "${r[wrong]}"`;
    if (n > 0) {
      const [rate, lo, hi] = [decimal(r.rate)!, decimal(r.ci_low)!, decimal(r.ci_high)!];
      if (Math.abs(rate - k / n) > 5e-5) return `rate ${r.rate} is not successes / n = ${k}/${n}`;
      if (!(lo <= rate + 5e-5 && rate <= hi + 5e-5)) return `rate ${r.rate} is outside [ci_low, ci_high]`;
    }
    const binned = BINS.reduce((a, [label]) => a + +r[`acc_${label}`], 0);
    return binned === n ? null : `the plateau counts add up to ${binned}, not n ${n}`;
  },
};

/** Both sides of every config and data mode, with the one Fisher p of the pair. */
export function pairedSummary(t: CsvTable): TableProblem | null {
  for (const [i, r] of t.rows.entries()) {
    const other = t.rows.find((o) => o.config === r.config && o.mode === r.mode && o.side !== r.side);
    if (!other) return { line: t.lines[i], message: `${r.config} ${r.mode} has a ${r.side} row and no other side` };
    if (other.fisher_p !== r.fisher_p) {
      return { line: t.lines[i], message: `${r.config} ${r.mode}: fisher_p differs between the sides` };
    }
  }
  return null;
}

/** Summary rows flattened for CSV (one column per plateau, `acc_<label>`). */
export function summaryCsvRows(summary: ParitySummary[]): Record<string, string | number>[] {
  const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "");
  return summary.map((s) => ({
    config: s.config,
    mode: s.mode,
    side: s.side,
    n: s.n,
    successes: s.successes,
    rate: f(s.rate, 4),
    ci_low: f(s.ci_low, 4),
    ci_high: f(s.ci_high, 4),
    fisher_p: Number.isFinite(s.fisher_p) ? s.fisher_p.toPrecision(4) : "",
    test_acc_median: f(s.test_acc_median, 2),
    ...Object.fromEntries(BINS.map(([label]) => [`acc_${label}`, s.bins[label]])),
  }));
}

/** The summary as Markdown: the success table, then the plateau counts. */
export function parityMarkdown(summary: ParitySummary[]): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "-");
  const cell = (s?: ParitySummary) =>
    s && s.n
      ? `${s.successes}/${s.n} (${pct(s.ci_low)}-${pct(s.ci_high)}), median ${s.test_acc_median.toFixed(1)}`
      : "-";
  const pairs = new Map<string, ParitySummary[]>();
  for (const s of summary) pairs.set(`${s.config}|${s.mode}`, [...(pairs.get(`${s.config}|${s.mode}`) ?? []), s]);
  const lines = [
    `Seeds reaching >= ${SUCCESS_ACCURACY}% test accuracy (Wilson 95% interval), median final test accuracy %, ` +
    `and Fisher's exact two-sided p for PyTorch against echolab. regen: a new series at chunk 0 of every epoch ` +
    `(upstream); fixed: one series for every epoch (--fixed-series).`,
    "",
    "| config | data | PyTorch | echolab | Fisher p |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const group of pairs.values()) {
    const [t, e] = SIDES.map((side) => group.find((s) => s.side === side));
    const p = group[0].fisher_p;
    lines.push(
      `| ${group[0].config} | ${group[0].mode} | ${cell(t)} | ${cell(e)} | ${
        Number.isFinite(p) ? p.toPrecision(3) : "-"
      } |`,
    );
  }
  lines.push(
    "",
    "Final test accuracy by plateau (seeds per bin, %):",
    "",
    `| config | data | side | ${BINS.map(([l]) => l).join(" | ")} |`,
    `| --- | --- | --- | ${BINS.map(() => "---:").join(" | ")} |`,
  );
  for (const s of summary.filter((s) => s.n > 0)) {
    lines.push(`| ${s.config} | ${s.mode} | ${s.side} | ${BINS.map(([l]) => s.bins[l]).join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}
