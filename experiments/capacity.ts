/**
 * The memory-capacity map: for each cell and hidden size, the largest echo
 * step (1..echo-max) that at least half of the seeds learn to >= 99% test
 * accuracy. The grid is long, so it is sharded: `--shard i/n` runs the i-th
 * of n disjoint parts, e.g. one per task of a Slurm job array
 * (`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`) or one per machine
 * with GNU parallel; `deno task merge` then combines the shard CSVs.
 *
 *   deno task exp:capacity --shard 3/16 [--seeds 10] [--epochs 5] [--bptt 50]
 *
 * Points of one cell and hidden size train together as one model of
 * seeds x points replicas (`--group`, default every echo step of the grid),
 * which is what lets a GPU run the grid in few steps; each point's result is
 * the one it gets alone.
 *
 * Writes results/capacity/shard-<i>-of-<n>-grid-<grid id>-<points>pts-<run id>.csv,
 * a row per grid point as each group finishes (only the header for a shard
 * with no points).
 */
import { quietTfjsWarnings, tf } from "../lib/tf.ts";
import { BACKENDS, describeBackend } from "../lib/backend.ts";
import {
  assertMeasures,
  assertMemory,
  assertWritable,
  DEFAULT_MAX_MEMORY_GIB,
  EXIT_CODES,
  int,
  oneOf,
  parseFlags,
  parseOrExit,
  parseShard,
  real,
  UsageError,
  useBackendOrExit,
} from "../lib/cli.ts";
import { CsvLog, newRunId } from "../lib/csv_log.ts";
import { EchoData } from "../lib/echo_data.ts";
import { type CellKind, CELLS, SimpleRNN } from "../lib/models.ts";
import { assertKernelFits, recurrenceFor } from "../lib/kernels/mod.ts";
import { RMSprop } from "../lib/optim.ts";
import { testEpoch, trainEpoch } from "../lib/train.ts";
import {
  gridId,
  gridPoints,
  MAX_SHARDS,
  modelGroups,
  SHARD_COLUMNS,
  shardFileName,
  shardPoints,
} from "../lib/capacity.ts";
import { SUCCESS_ACCURACY } from "../lib/experiment.ts";
import { median } from "../lib/stats.ts";

function config() {
  const { values } = parseFlags(Deno.args, {
    shard: { type: "string" },
    seeds: { type: "string" },
    epochs: { type: "string" },
    bptt: { type: "string" },
    series: { type: "string" },
    cells: { type: "string" },
    hiddens: { type: "string" },
    "echo-max": { type: "string" },
    group: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    "max-memory": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(`usage: deno task exp:capacity [--shard i/n] [--seeds 10] [--epochs 5] [--bptt 50] [--series 20000]
  [--cells rnn,lstm,gru,irnn] [--hiddens 2,4,8,16,32,64] [--echo-max 40] [--group N] [--backend auto]
  [--out results/capacity] [--max-memory ${DEFAULT_MAX_MEMORY_GIB}]
--group N: grid points of one cell and hidden size trained together as one model of seeds x N replicas, 1..echo-max
(default echo-max); results do not depend on it, memory and speed do.
--shard i/n: the i-th of n <= ${MAX_SHARDS} round-robin parts of the grid; a part with no grid points writes a
header-only CSV, which merge requires like the others.
${EXIT_CODES}`);
    Deno.exit(0);
  }
  const { shard, shards } = parseShard(values.shard, MAX_SHARDS);
  const series = int("series", values.series, 20_000, 1, 10_000_000);
  const bptt = int("bptt", values.bptt, 50, 1, series);
  if (series % bptt !== 0) throw new UsageError(`--series ${series} must be divisible by --bptt ${bptt}`);
  const cells = (values.cells ?? CELLS.join(",")).split(",").map((c) => oneOf("cells", c, "rnn", CELLS) as CellKind);
  const hiddens = (values.hiddens ?? "2,4,8,16,32,64").split(",").map((h) => int("hiddens", h, 0, 1, 4096));
  for (const [flag, list] of [["cells", cells], ["hiddens", hiddens]] as const) {
    if (new Set<unknown>(list).size !== list.length) {
      throw new UsageError(`--${flag} must list distinct values, got "${values[flag]}"`);
    }
  }
  const seeds = int("seeds", values.seeds, 10, 1, 4096);
  const echoMax = int("echo-max", values["echo-max"], 40, 1, bptt);
  const group = int("group", values.group, echoMax, 1, echoMax);
  const budgetGiB = real("max-memory", values["max-memory"], DEFAULT_MAX_MEMORY_GIB, 0, 1e6, true);
  assertMeasures(echoMax, series, "--echo-max");
  const cfg = {
    shard,
    shards,
    seeds,
    epochs: int("epochs", values.epochs, 5, 1, 10_000),
    bptt,
    series,
    cells,
    hiddens,
    echoMax,
    group,
    backend: oneOf("backend", values.backend, "auto", BACKENDS),
    out: assertWritable("--out", values.out ?? "results/capacity", "exp:capacity"),
    budgetGiB,
  };
  assertFits(cfg, cfg.backend, false);
  return cfg;
}

/**
 * The largest model the grid trains (the widest hidden size, seeds x group
 * replicas) within --max-memory for the recurrence that runs on `backend`,
 * and, on webgpu once `loaded`, within the adapter's buffer limit.
 */
function assertFits(c: ReturnType<typeof config>, backend: string, loaded = true): void {
  const hidden = Math.max(...c.hiddens), replicas = c.seeds * c.group;
  for (const cell of c.cells) {
    const run = { seeds: replicas, batch: 5, series: c.series, bptt: c.bptt, hidden, layers: 1, cell };
    const kernel = recurrenceFor({ backend, cell, hidden });
    assertMemory({ ...run, optimizer: "rmsprop", kernel, budgetGiB: c.budgetGiB, backend }, {
      seeds: `--seeds ${c.seeds} x --group ${c.group} =`,
      hidden: "--hiddens",
    });
    // The adapter's limits are known once the backend is loaded.
    if (loaded) assertKernelFits({ ...run, backend, echoStep: c.echoMax });
  }
}

const cfg = parseOrExit(config);
quietTfjsWarnings();
console.log(describeBackend(await useBackendOrExit(cfg.backend)));
parseOrExit(() => assertFits(cfg, tf.getBackend()));
console.log(`config: ${JSON.stringify(cfg)}`);

const spec = { cells: cfg.cells, hiddens: cfg.hiddens, echoMax: cfg.echoMax };
const grid = gridId(spec, { seeds: cfg.seeds, epochs: cfg.epochs, bptt: cfg.bptt, series: cfg.series });
const all = gridPoints(spec);
const points = shardPoints(all, cfg.shard, cfg.shards);
const log = CsvLog.create(
  `${cfg.out}/${shardFileName(cfg.shard, cfg.shards, grid, all.length, newRunId())}`,
  SHARD_COLUMNS,
);
if (points.length === 0) console.log(`shard ${cfg.shard}/${cfg.shards} of ${all.length} grid points holds none`);
const seeds = Array.from({ length: cfg.seeds }, (_, i) => i + 1);

let done = 0;
for (const group of modelGroups(points, cfg.group)) {
  const t0 = performance.now();
  const { cell, hidden } = group[0];
  // Replica k * S + r is seed r of the group's k-th point: that point's data, the seed's initialisation.
  const data = (stream: string) =>
    group.flatMap((p) =>
      EchoData.forSeeds(seeds, {
        echoStep: p.echoStep,
        batchSize: 5,
        seriesLength: cfg.series,
        truncatedLength: cfg.bptt,
        stream,
      })
    );
  const train = data("train"), test = data("test");
  const model = new SimpleRNN({ cell, hidden, seeds: group.flatMap(() => seeds) });
  const opt = new RMSprop(model.variables, { lr: 0.001 });
  const alive = train.map(() => true);
  let state: tf.Tensor3D[] | null = null;
  for (let e = 0; e < cfg.epochs; e++) state = (await trainEpoch(model, opt, train, state, { alive })).state;
  const t = await testEpoch(model, test, state);
  tf.dispose(t.state);
  const seconds = (performance.now() - t0) / 1000 / group.length; // each point's share of the group's time
  for (const [k, p] of group.entries()) {
    const mine = (_: unknown, r: number) => r >= k * seeds.length && r < (k + 1) * seeds.length && alive[r];
    const acc = t.correct.map((c) => (c / t.digits) * 100).filter(mine);
    const successes = acc.filter((a) => a >= SUCCESS_ACCURACY).length;
    log.append({
      grid_id: grid,
      shard: cfg.shard,
      shards: cfg.shards,
      points: points.length,
      cell: p.cell,
      hidden: p.hidden,
      echo_step: p.echoStep,
      seeds: cfg.seeds,
      successes,
      test_acc_median: median(acc),
      epochs: cfg.epochs,
      bptt: cfg.bptt,
      seconds: seconds.toFixed(1),
    });
    console.log(
      `[${++done}/${points.length}] ${p.cell} H${p.hidden} echo ${p.echoStep}: ${successes}/${cfg.seeds} learnt`,
    );
  }
  opt.dispose();
  model.dispose();
}
console.log(`csv: ${log.path}`);
