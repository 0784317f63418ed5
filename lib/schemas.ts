/**
 * What the experiment, gradients and bench CSVs may hold, for reading them
 * back ({@linkcode parseCsv}): their columns (CSV_COLUMNS from
 * lib/experiment.ts, the gradients header from lib/migrations.ts, the
 * bench header here, which bench/bench.ts imports) and, per column, the values their writers
 * can produce with the flags they accept. Accuracies are percentages in
 * [0, 100], as every writer logs them; times and losses finite and >= 0; a
 * field a writer leaves empty (a diverged seed, a test row's train loss) must
 * be empty, and one it fills must be filled. The shard and parity CSVs have
 * theirs in lib/capacity.ts and lib/parity.ts.
 */
import { BACKENDS } from "./backend.ts";
import { MAX_SEED, parameterCount } from "./cli.ts";
import { CSV_COLUMNS } from "./experiment.ts";
import { type CellKind, CELLS, KERNELS } from "./models.ts";
import { OPTIMIZERS } from "./optim.ts";
import { GRADIENT_COLUMNS, olderHeaders } from "./migrations.ts";
import { earlierReasonsFor, reasonsFor } from "./kernels/mod.ts";
import { BENCH_COLUMNS, BENCH_MODELS, benchMacs } from "./bench_columns.ts";
import { DATA_GENERATORS } from "./echo_bits.ts";
import {
  type CsvRow,
  type CsvSchema,
  type CsvTable,
  intIn,
  matching,
  nonNegative,
  numberIn,
  oneOfList,
  orEmpty,
  positive,
  type Rule,
  runIdRule,
  shown,
  type TableProblem,
} from "./readback.ts";

/**
 * A backend as scripts log it: a name `--backend` takes (not `auto`, which
 * logs what it chose), optionally followed by what it runs on in brackets:
 * `wasm`, `node (tensorflow)`, `webgpu (llvmpipe ..., software)`, `cpu (torch)`.
 */
export const backendRule: Rule = (() => {
  const names = BACKENDS.filter((b) => b !== "auto");
  const re = new RegExp(`^(${names.join("|")})( \\(.+\\))?$`);
  return matching(re, `a backend (${names.join(", ")}), optionally followed by " (what it runs on)"`);
})();

/** The headers `deno task migrate` knows to bring to `columns`. */

// ---------------------------------------------------------------- experiment CSVs (lib/experiment.ts)

/** Columns that change from row to row of one run; every other column holds the run's one value. */
const PER_ROW = ["seed", "phase", "epoch", "train_loss", "train_acc", "test_acc", "echo_correct", "status", "seconds"];

const EXPERIMENT_RULES: Record<string, Rule> = {
  experiment: matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a name of 1-64 letters, digits, '.', '_' or '-'"),
  run_id: runIdRule,
  seed: intIn(0, MAX_SEED),
  phase: oneOfList(["train", "test"]),
  epoch: intIn(1, 10_000),
  train_loss: orEmpty(nonNegative),
  train_acc: orEmpty(numberIn(0, 100)),
  test_acc: orEmpty(numberIn(0, 100)),
  echo_correct: orEmpty(intIn(0, 10_000_000)),
  status: oneOfList(["ok", "diverged"]),
  seconds: nonNegative,
  backend: backendRule,
  kernel: oneOfList(KERNELS.filter((k) => k !== "auto")),
  // The words of lib/kernels/mod.ts kernelFor for this row's backend, size and recurrence.
  kernel_reason: (v, r) => {
    const q = { backend: r.backend, cell: r.cell as CellKind, hidden: +r.hidden };
    const want = [...reasonsFor(q), ...earlierReasonsFor(q)].filter((c) => c.recurrence === r.kernel)
      .map((c) => JSON.stringify(c.reason));
    return want.includes(JSON.stringify(v)) ? null : `must be what kernelFor says for ${r.backend} and a ${r.kernel} ` +
      `recurrence (${want.join(" or ") || "nothing: no kernel runs that"}), got ${shown(v)}`;
  },
  data_generator: oneOfList(DATA_GENERATORS),
  cell: oneOfList(CELLS),
  echo_step: intIn(1, 10_000_000),
  hidden: intIn(1, 4096),
  layers: intIn(1, 64),
  bptt: intIn(1, 10_000_000),
  batch: intIn(1, 4096),
  series: intIn(1, 10_000_000),
  lr: numberIn(0, 10, true),
  optimizer: oneOfList(OPTIMIZERS),
  clip: numberIn(0, 1e6),
  fixed_series: oneOfList(["true", "false"]),
  epochs: intIn(1, 10_000),
  parameters: intIn(1, Number.MAX_SAFE_INTEGER),
  // Logged for irnn, whose recurrent matrix starts as this multiple of the identity; empty for other cells.
  identity_scale: (v, r) =>
    r.cell === "irnn" ? numberIn(0, 10, true)(v, r) : v === "" ? null : `empty for a ${r.cell} (irnn only)`,
};

/** Which of `fields` a row fills, against which it should: the first that differs, in words. */
function filled(row: CsvRow, fields: string[], want: boolean, why: string): string | null {
  const bad = fields.find((f) => (row[f] !== "") !== want);
  return bad === undefined ? null : `${bad} must be ${want ? "filled" : "empty"} ${why}, got ${shown(row[bad])}`;
}

/** The checks across one row's fields: what a phase and status fill, epochs, the data's shape, the model's size. */
function experimentRow(r: CsvRow): string | null {
  const epoch = +r.epoch, epochs = +r.epochs, echo = +r.echo_step, series = +r.series, bptt = +r.bptt;
  if (epoch > epochs) return `epoch ${epoch} is past the run's ${epochs} epochs`;
  if (r.phase === "test" && epoch !== epochs) {
    return `a test row's epoch must be the run's epochs ${epochs}, got ${epoch}`;
  }
  const ok = r.status === "ok";
  const problem = r.phase === "train"
    ? filled(r, ["train_loss", "train_acc"], ok, `on a train row of a seed that ${ok ? "trained" : "diverged"}`) ??
      filled(r, ["test_acc", "echo_correct"], false, "on a train row")
    : filled(r, ["train_loss", "train_acc"], false, "on a test row") ??
      filled(r, ["test_acc"], ok, `on a test row of a seed that ${ok ? "trained" : "diverged"}`) ??
      (ok ? null : filled(r, ["echo_correct"], false, "on a test row of a seed that diverged"));
  if (problem) return problem;
  // The echo check runs over max(100, 2 * echo) digits and scores the ones past the first `echo`.
  const checked = Math.max(100, 2 * echo) - echo;
  if (r.echo_correct !== "" && +r.echo_correct > checked) {
    return `echo_correct ${r.echo_correct} is more than the ${checked} digits the echo check scores`;
  }
  if (bptt > series || series % bptt !== 0) return `series ${series} must be a multiple of bptt ${bptt}`;
  if (echo >= series) return `echo_step ${echo} must be below series ${series}`;
  const params = parameterCount(r.cell as CellKind, +r.hidden, +r.layers);
  if (+r.parameters !== params) {
    return `parameters must be ${params}, what a ${r.cell} of ${r.layers} x ${r.hidden} has, got ${r.parameters}`;
  }
  return null;
}

/** An experiment CSV as {@linkcode runExperiment} writes it: one run, every seed's epochs, then its test row. */
export const EXPERIMENT_CSV: CsvSchema = {
  kind: "experiment CSV",
  columns: CSV_COLUMNS,
  older: olderHeaders(CSV_COLUMNS),
  rules: EXPERIMENT_RULES,
  key: (r) => `seed ${r.seed}, ${r.phase} epoch ${r.epoch}`,
  constant: CSV_COLUMNS.filter((c) => !PER_ROW.includes(c)),
  row: experimentRow,
};

/** A run that finished: every seed has a train row for each epoch 1..epochs and a test row. */
export function finishedRun(t: CsvTable): TableProblem | null {
  const epochs = +t.rows[0].epochs;
  const seeds = new Map<string, { train: number; test: boolean; line: number }>();
  t.rows.forEach((r, i) => {
    const s = seeds.get(r.seed) ?? { train: 0, test: false, line: t.lines[i] };
    if (r.phase === "train") s.train++;
    else s.test = true;
    s.line = t.lines[i];
    seeds.set(r.seed, s);
  });
  for (const [seed, s] of seeds) {
    if (s.train !== epochs || !s.test) {
      return {
        line: s.line,
        message: `seed ${seed} has ${s.train} of ${epochs} train epochs and ${
          s.test ? "its" : "no"
        } test row (an unfinished run?)`,
      };
    }
  }
  return null;
}

// ---------------------------------------------------------------- gradients CSVs (experiments/gradients.ts)

const settings = (...columns: string[]) => Object.fromEntries(columns.map((c) => [c, EXPERIMENT_RULES[c]]));

/** A gradients CSV: per cell, seed and phase (init, trained), one row per lag of the probe. */
export const GRADIENTS_CSV: CsvSchema = {
  kind: "gradients CSV",
  columns: GRADIENT_COLUMNS,
  older: olderHeaders(GRADIENT_COLUMNS),
  rules: {
    ...settings("run_id", "cell", "identity_scale", "hidden", "layers", "echo_step", "bptt", "batch", "series"),
    ...settings("lr", "optimizer", "clip", "fixed_series", "data_generator", "seed"),
    phase: oneOfList(["init", "trained"]),
    epochs_trained: intIn(0, 10_000),
    test_acc: orEmpty(numberIn(0, 100)),
    lag: intIn(0, 10_000),
    mean_abs_grad: nonNegative,
  },
  key: (r) => `${r.cell} seed ${r.seed} ${r.phase} lag ${r.lag}`,
  constant: [
    "run_id",
    "hidden",
    "layers",
    "echo_step",
    "bptt",
    "batch",
    "series",
    "lr",
    "optimizer",
    "clip",
    "data_generator",
  ],
  row: (r) =>
    r.phase === "init"
      ? (r.epochs_trained !== "0"
        ? `epochs_trained must be 0 on an init row, got ${r.epochs_trained}`
        : filled(r, ["test_acc"], false, "on an init row"))
      : (r.epochs_trained === "0"
        ? "epochs_trained must be at least 1 on a trained row, got 0"
        : filled(r, ["test_acc"], true, "on a trained row")),
};

/** Every cell and seed has both phases, each with every lag 0..the largest in the file, which reaches the echo step. */
export function completeGradients(t: CsvTable): TableProblem | null {
  const maxLag = Math.max(...t.rows.map((r) => +r.lag));
  if (maxLag < +t.rows[0].echo_step) {
    return { message: `its lags end at ${maxLag}, before its echo step ${t.rows[0].echo_step}` };
  }
  const count = new Map<string, number>();
  for (const r of t.rows) {
    for (const phase of ["init", "trained"]) {
      const key = `${r.cell} seed ${r.seed} ${phase}`;
      count.set(key, (count.get(key) ?? 0) + (r.phase === phase ? 1 : 0));
    }
  }
  for (const [key, n] of count) {
    if (n !== maxLag + 1) return { message: `${key} has ${n} of the ${maxLag + 1} lags 0..${maxLag}` };
  }
  return null;
}

// ---------------------------------------------------------------- bench CSVs (bench/bench.ts)

/** Columns of bench-*.csv, its models and their multiply-adds per replica-step (lib/bench_columns.ts). */
export { BENCH_COLUMNS, BENCH_MODELS, benchMacs };

/**
 * A bench CSV: training-speed rows and end-to-end rows (end_to_end_s only).
 * A training-speed row has replica_steps_per_s (all its processes together);
 * ms_per_step (per process; empty for the multi-process rows of older runs);
 * PyTorch's figures for the same model on one thread, the notebook's single
 * seed (steps per second) and S replicas batched with bmm at the row's
 * replicas_per_process (replica-steps per second), each empty where not
 * measured; ratio_to_best_torch, replica_steps_per_s over the faster of those
 * two (empty without either); multiply-adds per replica-step (lib/macs.ts);
 * this core's f32x4 multiply-add limit measured in the same run, and
 * fraction_of_peak, the row's multiply-adds per second over that limit times
 * the cores it used (processes x threads), both empty on webgpu rows and in
 * runs before the limit was measured. A webgpu row whose steps ran the WebGPU
 * epoch (issue 17) has what one step (a chunk) cost: the compute dispatches it
 * issued (data, fused step per tile, tallies), the host's JavaScript
 * milliseconds to encode and submit it (waits on the device and time inside
 * `GPUQueue.submit` left out) and the fused step's tiles of replicas; empty on
 * other rows and in runs before those were measured.
 */
export const BENCH_CSV: CsvSchema = {
  kind: "bench CSV",
  columns: BENCH_COLUMNS,
  older: olderHeaders(BENCH_COLUMNS),
  rules: {
    run_id: runIdRule,
    impl: matching(
      /^(op-level|fused|echolab|pytorch \S+( bmm)?)$/,
      "op-level, fused, echolab, pytorch <version> or pytorch <version> bmm",
    ),
    backend: backendRule,
    threads: intIn(1, 4096),
    processes: intIn(1, 4096),
    model: oneOfList(BENCH_MODELS.map((m) => m.name)),
    replicas_per_process: intIn(1, 1 << 20),
    ms_per_step: orEmpty(positive),
    replica_steps_per_s: orEmpty(positive),
    torch_seed_steps_per_s: orEmpty(positive),
    torch_batched_replica_steps_per_s: orEmpty(positive),
    ratio_to_best_torch: orEmpty(nonNegative),
    macs_per_replica_step: orEmpty(positive),
    core_peak_macs_per_s: orEmpty(positive),
    fraction_of_peak: orEmpty(nonNegative),
    dispatches_per_step: orEmpty(positive),
    host_ms_per_step: orEmpty(nonNegative),
    tiles: orEmpty(intIn(1, 1 << 20)),
    end_to_end_s: orEmpty(positive),
  },
  key: (r) =>
    `${
      r.end_to_end_s === "" ? "speed" : "end-to-end"
    } ${r.impl} ${r.backend} ${r.model} ${r.processes} x ${r.replicas_per_process} (${r.threads} threads)`,
  constant: ["run_id"],
  row: (r) => {
    if (r.end_to_end_s !== "") {
      return filled(r, BENCH_COLUMNS.slice(BENCH_COLUMNS.indexOf("ms_per_step"), -1), false, "on an end-to-end row");
    }
    const macs = String(benchMacs(r.model));
    return filled(r, ["replica_steps_per_s"], true, "on a training-speed row (end_to_end_s empty)") ??
      (r.macs_per_replica_step === macs
        ? null
        : `macs_per_replica_step must be ${macs} for ${r.model}, got ${shown(r.macs_per_replica_step)}`);
  },
};
