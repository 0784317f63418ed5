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
import { DATA_GENERATOR } from "../lib/echo_bits.ts";
import { quietTfjsWarnings, tf } from "../lib/tf.ts";
import { describeBackend } from "../lib/backend.ts";
import {
  assertDivides,
  assertMeasures,
  assertMemory,
  type Flag,
  type Get,
  MAX_REPLICAS,
  parseCommandOrExit,
  type Parsed,
  parseOrExit,
  RUN_FLAG,
  shardFlag,
  useBackendOrExit,
} from "../lib/cli.ts";
import { CsvLog, newRunId } from "../lib/csv_log.ts";
import { EchoData } from "../lib/echo_data.ts";
import { CELLS, SimpleRNN } from "../lib/models.ts";
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

const TASK = "exp:capacity";

/** exp:capacity's flags: the grid, how it is split and trained, and the run flags it shares. */
const FLAGS = [
  shardFlag(
    MAX_SHARDS,
    "the i-th of n round-robin parts of the grid, {range} (default {default}); a part with no grid points " +
      "writes a header-only CSV, which merge requires like the others",
  ),
  { name: "seeds", type: "int", min: 1, max: MAX_REPLICAS, default: 10, help: "seeds of every grid point" },
  { ...RUN_FLAG.epochs, default: 5 },
  { ...RUN_FLAG.bptt, default: 50 },
  RUN_FLAG.series,
  { name: "cells", type: "choice", list: true, choices: CELLS, default: CELLS, help: "the grid's cells" },
  {
    name: "hiddens",
    type: "int",
    list: true,
    min: 1,
    max: 4096,
    default: [2, 4, 8, 16, 32, 64],
    help: "the grid's hidden sizes",
  },
  {
    name: "echo-max",
    type: "int",
    min: 1,
    // The range follows --bptt, so a --bptt that does not divide --series is named first, as that rule's own error.
    max: (get) => (assertDivides(get("series") as number, get("bptt") as number), get("bptt") as number),
    default: 40,
    range: "1..--bptt and at most 10% of --series",
    help: "largest echo step of the grid (it runs 1..N)",
  },
  {
    name: "group",
    type: "int",
    min: 1,
    max: (get) => get("echo-max") as number,
    default: (get: Get) => get("echo-max"),
    show: "--echo-max",
    range: "1..--echo-max",
    help: "grid points of one cell and hidden size trained together as one model of seeds x N replicas, " +
      "{range} (default {default}); results do not depend on it, memory and speed do",
  },
  RUN_FLAG.backend,
  { name: "out", type: "dir", default: "results/capacity", help: "where the shard CSV goes" },
  RUN_FLAG["max-memory"],
] as const satisfies readonly Flag[];

/** The grid's settings from its flags, checked against each other and against --max-memory. */
function config({ values: v }: Parsed<typeof FLAGS>) {
  assertDivides(v.series, v.bptt);
  assertMeasures(v["echo-max"], v.series, "--echo-max");
  const cfg = {
    ...v.shard,
    seeds: v.seeds,
    epochs: v.epochs,
    bptt: v.bptt,
    series: v.series,
    cells: [...v.cells],
    hiddens: v.hiddens,
    echoMax: v["echo-max"],
    group: v.group,
    backend: v.backend,
    out: v.out,
    budgetGiB: v["max-memory"],
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

const cfg = parseCommandOrExit({ task: TASK, flags: FLAGS }, Deno.args, config);
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
      data_generator: DATA_GENERATOR,
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
