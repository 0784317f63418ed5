/**
 * `deno task bench`: training speed of the suite against the notebook's own
 * PyTorch code, measured in one invocation on this machine.
 *
 * For each backend (cpu, wasm), path (op-level, fused), model (echo3: H 4;
 * echo10-h60: H 60) and replica count (1, 8, 64, 256) it times trainEpoch
 * steps and prints ms per step and replicas x steps per second. It also runs
 * one 64-replica sweep per core as separate processes (how exp:memory uses the
 * machine) and times echo3 end to end (5 epochs, test, random-sequence check)
 * on `auto`.
 *
 * The peers, timed in the same run with /usr/bin/python3 when PyTorch is
 * there, both on one thread: the notebook's own code, one seed
 * (bench/notebook_torch.py), and S replicas batched with bmm at the same
 * replica counts (bench/gpu/torch_replicas.py --device cpu). Each row's ratio
 * is to the faster of the two at its replica count (a single seed run S times
 * gives its steps per second as replica-steps per second). The limit, also
 * measured in the run: one core's f32x4 multiply-then-add rate (bench/peak.ts);
 * each row's fraction of it is its multiply-adds per second (lib/macs.ts) over
 * that rate times the cores the row used.
 *
 * Where WebGPU finds an adapter it adds fused rows for `webgpu`, whose
 * backend column names the adapter: on a software adapter (llvmpipe, in CI
 * and on our machines) a few small replica counts that show the path runs,
 * never a GPU figure; on a hardware adapter 1 to 16,384 replicas. Each
 * webgpu row also has what one step of the WebGPU epoch (issue 17) cost the
 * host, measured over the timed epochs (`measureWebGpuEpochs`,
 * lib/kernels/webgpu/step_measure.ts): compute dispatches per step (data,
 * the fused step's 2 per tile, tallies), JavaScript milliseconds per step
 * with the waits on the device and the time inside `GPUQueue.submit` left
 * out (llvmpipe runs the shaders there), and the tiles; that host time
 * should not grow with the replicas at a given tile count.
 * `--backends` picks which of cpu, wasm and webgpu run (the processes and
 * end-to-end rows come with wasm).
 * Writes results/bench.csv (a new file each run, with the date in its name).
 */
import { tf } from "../lib/tf.ts";
import { findWebGpuAdapter, useBackend, webgpuLabel } from "../lib/backend.ts";
import { EchoData } from "../lib/echo_data.ts";
import { type KernelKind, SimpleRNN, type State } from "../lib/models.ts";
import { RMSprop } from "../lib/optim.ts";
import { trainEpoch } from "../lib/train.ts";
import { CsvLog, newRunId } from "../lib/csv_log.ts";
import { replicaTrainer } from "../lib/threads.ts";
import { parseRunArgs } from "../lib/cli/run.ts";
import type { BackendName } from "../lib/backend.ts";
import { largestBuffer, webgpuBufferLimit } from "../lib/kernels/webgpu/limits.ts";
import { BENCH_COLUMNS, BENCH_MODELS as MODELS, benchMacs } from "../lib/schemas.ts";
import { type Command, type Flag, int, parseCommandOrExit, parseOrExit, UsageError } from "../lib/cli.ts";
import { peakMaddsPerSecond } from "./peak.ts";
import { type EpochMeasure, measureWebGpuEpochs } from "../lib/kernels/webgpu/step_measure.ts";

const REPLICAS = [1, 8, 64, 256];
/** WebGPU replica counts: a software adapter runs shaders on the CPU, slowly; a GPU wants many replicas. */
const WEBGPU_REPLICAS = { software: [1, 8, 64], hardware: [1, 64, 1024, 4096, 16384] };
const BENCH_BACKENDS = ["cpu", "wasm", "webgpu"] as const;
let budgetMs = 1500;
const SCRATCH = "results/.bench-scratch";

interface Torch {
  torch: string;
  echo3_ms_per_step: number;
  echo10_h60_ms_per_step: number;
  echo3_end_to_end_s: number;
}

/**
 * Runs a Python script of bench/ with /usr/bin/python3: its stdout, or why
 * not. OpenBLAS's tuning variables (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) are
 * removed from the child's environment before PyTorch loads, so OpenBLAS picks
 * its kernels for this CPU as a PyTorch user's would.
 */
async function python(script: string, args: string[]): Promise<string | { skipped: string }> {
  const prelude = "import os, runpy, sys\n" +
    "for v in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'): os.environ.pop(v, None)\n" +
    "sys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')";
  try {
    const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", prelude, script, ...args] }).output();
    if (out.code !== 0) return { skipped: new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "" };
    return new TextDecoder().decode(out.stdout);
  } catch (err) {
    return { skipped: (err as Error).message.split("\n")[0] };
  }
}

async function torchBaseline(): Promise<Torch | string> {
  const out = await python("bench/notebook_torch.py", ["1000"]);
  return typeof out === "string" ? JSON.parse(out) : `PyTorch baseline skipped: ${out.skipped}`;
}

/** PyTorch's S replicas batched with bmm on one thread: replica-steps per second by model and S, and its version. */
async function torchBatched(
  replicas: number[],
): Promise<{ version: string; rate: Map<string, Map<number, number>> } | string> {
  const out = await python("bench/gpu/torch_replicas.py", [
    "--device",
    "cpu",
    "--threads",
    "1",
    "--impls",
    "batched",
    "--replicas",
    replicas.join(","),
    "--budget",
    String(budgetMs / 1000),
  ]);
  if (typeof out !== "string") return `PyTorch batched skipped: ${out.skipped}`;
  const rate = new Map<string, Map<number, number>>();
  let version = "";
  for (const line of out.trim().split("\n").slice(1)) {
    // batched bmm,"cpu (cpu; torch 1.13.0a0)",echo3,8,1.3480,5934.7
    const m = /^batched bmm,"[^"]*torch (\S+)\)",([^,]+),(\d+),[^,]+,([\d.]+)$/.exec(line);
    if (!m) return `PyTorch batched skipped: cannot read ${JSON.stringify(line)}`;
    version = m[1];
    if (!rate.has(m[2])) rate.set(m[2], new Map());
    rate.get(m[2])!.set(+m[3], +m[4]);
  }
  return { version, rate };
}

/**
 * ms per training step of S replicas of a model, timed over whole chunks; on webgpu also what the WebGPU epoch's
 * steps cost the host (null where the per-step path ran).
 */
async function msPerStep(
  echo: number,
  hidden: number,
  S: number,
  kernel: KernelKind,
): Promise<{ ms: number; gpu: EpochMeasure | null }> {
  const seeds = Array.from({ length: S }, (_, i) => i + 1);
  const chunks = 10;
  const datas = EchoData.forSeeds(seeds, {
    echoStep: echo,
    batchSize: 5,
    seriesLength: 20 * chunks,
    truncatedLength: 20,
  });
  const model = new SimpleRNN({ hidden, seeds, kernel });
  const opt = new RMSprop(model.variables);
  let state: State = (await trainEpoch(model, opt, datas, null)).state; // warm-up
  let steps = 0;
  const timed = async () => {
    const t0 = performance.now();
    while (performance.now() - t0 < budgetMs || steps < 2 * chunks) {
      state = (await trainEpoch(model, opt, datas, state)).state;
      steps += chunks;
    }
    return (performance.now() - t0) / steps;
  };
  const { value: ms, measure: gpu } = tf.getBackend() === "webgpu"
    ? await measureWebGpuEpochs(timed)
    : { value: await timed(), measure: null };
  tf.dispose(state);
  model.dispose();
  opt.dispose();
  return { ms, gpu };
}

/** ms per training step of S replicas split over `threads` Web Workers of this process (`--threads`). */
async function threadsMs(m: (typeof MODELS)[number], S: number, threads: number): Promise<number> {
  const chunks = 50;
  const args = ["--hidden", String(m.hidden), "--echo-step", String(m.echo), "--seed", "1", "--seeds", String(S)];
  const cfg = parseRunArgs([...args, "--series", String(20 * chunks), "--out", SCRATCH])!;
  const trainer = await replicaTrainer(cfg, threads, tf.getBackend() as BackendName, false);
  await trainer.train(); // warm-up: the workers load tfjs and compile
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs || steps < 2 * chunks) {
    await trainer.train();
    steps += chunks;
  }
  const ms = (performance.now() - t0) / steps;
  await trainer.dispose();
  return ms;
}

async function echo3EndToEnd(): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write=results", "experiments/echo3.ts", "--seed", "5", "--out", SCRATCH],
    stdout: "null",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  Deno.removeSync(SCRATCH, { recursive: true }); // the timing run's CSV is not a result
  if (out.code !== 0) throw new Error("echo3 failed");
  return seconds;
}

/** bench's command line (its own subprocesses run `bench.ts --child MODEL REPLICAS`, below). */
const BENCH = {
  task: "bench",
  about: "Training speed of the suite (cpu and wasm, op-level and fused, 1-256 replicas, one process per core, " +
    "echo3 end to end) against PyTorch on one thread (the notebook's single seed; replicas batched with bmm) and " +
    "this core's f32x4 multiply-add limit, in one invocation; takes several minutes.",
  flags: [
    {
      name: "backends",
      type: "names",
      choices: BENCH_BACKENDS,
      default: BENCH_BACKENDS,
      show: "all; webgpu where WebGPU has an adapter",
      help: "the backends to measure",
    },
    {
      name: "budget-ms",
      type: "int",
      min: 10,
      max: 600_000,
      default: 1500,
      help: "milliseconds timed per row, here and in PyTorch",
    },
    {
      name: "replicas",
      type: "int",
      list: true,
      min: 1,
      max: 4096,
      default: REPLICAS,
      help: "replica counts of the one-process rows (cpu, wasm and PyTorch batched)",
    },
  ],
  notes: "Prints a table and writes results/bench-<run id>.csv.",
} as const satisfies Command<readonly Flag[]>;

// Child mode: `bench.ts --child MODEL REPLICAS [BUDGET_MS]` prints its ms per step and exits.
let backends: string[] = [...BENCH_BACKENDS];
let replicaCounts = REPLICAS;
if (Deno.args[0] !== "--child") {
  const { values, given } = parseCommandOrExit(BENCH, Deno.args, (parsed) => parsed);
  backends = values.backends;
  budgetMs = values["budget-ms"];
  replicaCounts = values.replicas;
  // webgpu named outright must run: without an adapter the bench would measure nothing and say it did.
  if (given.has("backends") && backends.includes("webgpu")) {
    const adapter = await findWebGpuAdapter();
    if (typeof adapter === "string") {
      console.error(`error: --backends webgpu has no adapter to run on (${adapter}); leave webgpu out`);
      Deno.exit(2);
    }
  }
} else {
  // The bench's own subprocesses; checked like any input, since a person can type it too.
  const [m, replicas, budget] = parseOrExit(() => {
    const m = MODELS.find((m) => m.name === Deno.args[1]);
    if (!m || Deno.args.length < 3 || Deno.args.length > 4) {
      throw new UsageError(
        `--child takes MODEL REPLICAS [BUDGET_MS], MODEL one of ${MODELS.map((m) => m.name).join(", ")}, got ` +
          JSON.stringify(Deno.args.slice(1).join(" ")),
      );
    }
    const budget = Deno.args[3] === undefined ? budgetMs : int("child", Deno.args[3], 1, 10, 600_000);
    return [m, int("child", Deno.args[2], 1, 1, 4096), budget] as const;
  });
  budgetMs = budget;
  await useBackend("auto");
  console.log(JSON.stringify({ ms: (await msPerStep(m.echo, m.hidden, replicas, "auto")).ms }));
  Deno.exit(0);
}

/** Each child process's ms per step, one child per core, all running at once. */
async function processesMs(model: string, S: number, procs: number): Promise<number[]> {
  const runs = await Promise.all(
    Array.from({ length: procs }, () =>
      new Deno.Command("deno", {
        args: [
          "run",
          "--allow-read",
          "--allow-write=results",
          "--allow-run=/usr/bin/python3,deno",
          "bench/bench.ts",
          "--child",
          model,
          String(S),
          String(budgetMs),
        ],
      }).output()),
  );
  return runs.map((r) => JSON.parse(new TextDecoder().decode(r.stdout)).ms);
}

const peak = peakMaddsPerSecond();
console.log(`f32x4 multiply-then-add limit: ${(peak / 1e9).toFixed(2)} G multiply-adds/s on one core`);
const torch = await torchBaseline();
const torchMs = typeof torch === "string"
  ? null
  : { "echo3": torch.echo3_ms_per_step, "echo10-h60": torch.echo10_h60_ms_per_step };
if (typeof torch === "string") console.log(torch);
// PyTorch batched at every replica count a CPU row has (the processes rows run 64 per process).
const batchedCounts = [...new Set([...replicaCounts, ...(backends.includes("wasm") ? [64] : [])])].sort((a, b) =>
  a - b
);
const batched = await torchBatched(batchedCounts);
if (typeof batched === "string") console.log(batched);

const runId = newRunId();
/**
 * One kind of value per column, units in the names (lib/schemas.ts, BENCH_CSV):
 * a training-speed row fills ms_per_step (per process), replica_steps_per_s
 * (all processes together), the PyTorch figures, the ratio to the faster and
 * the fraction of the limit; an end-to-end row fills end_to_end_s only.
 */
const log = CsvLog.create(`results/bench-${runId}.csv`, BENCH_COLUMNS);
const rows: Record<string, string | number>[] = [];
const seedRate = (model: string) => (torchMs ? 1000 / torchMs[model as keyof typeof torchMs] : undefined);
const batchedRate = (model: string, S: number) =>
  typeof batched === "string" ? undefined : batched.rate.get(model)?.get(S);
const add = (
  impl: string,
  backend: string,
  model: string,
  S: number,
  ms: number[],
  threads = 1,
  gpu: EpochMeasure | null = null,
) => {
  // A row of several threads is compared, as one of several processes, with one thread of PyTorch at its share.
  const seed = seedRate(model), bmm = batchedRate(model, S / threads);
  const best = Math.max(seed ?? 0, bmm ?? 0);
  const rate = ms.reduce((sum, m) => sum + (1000 / m) * S, 0);
  const macs = benchMacs(model);
  const onCpu = !backend.startsWith("webgpu");
  const row = {
    run_id: runId,
    impl,
    backend,
    threads,
    processes: ms.length,
    model,
    replicas_per_process: S,
    ms_per_step: +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(3),
    replica_steps_per_s: +rate.toFixed(1),
    torch_seed_steps_per_s: seed === undefined ? "" : +seed.toFixed(1),
    torch_batched_replica_steps_per_s: bmm === undefined ? "" : +bmm.toFixed(1),
    ratio_to_best_torch: best > 0 ? +(rate / best).toFixed(3) : "",
    macs_per_replica_step: macs,
    core_peak_macs_per_s: onCpu ? Math.round(peak) : "",
    fraction_of_peak: onCpu ? +((rate * macs) / (peak * ms.length * threads)).toFixed(4) : "",
    dispatches_per_step: gpu ? +gpu.dispatches.toFixed(2) : "",
    host_ms_per_step: gpu ? +gpu.hostMs.toFixed(4) : "",
    tiles: gpu ? gpu.tiles : "",
  };
  rows.push(row);
  log.append(row);
};
if (torchMs) {
  for (const m of MODELS) {
    add(`pytorch ${(torch as Torch).torch}`, "cpu (torch)", m.name, 1, [torchMs[m.name as keyof typeof torchMs]]);
  }
}
if (typeof batched !== "string") {
  for (const m of MODELS) {
    for (const [S, rate] of batched.rate.get(m.name) ?? []) {
      add(`pytorch ${batched.version} bmm`, "cpu (torch)", m.name, S, [(1000 * S) / rate]);
    }
  }
}

/** The table printed: each row's speed, its PyTorch peers, its ratio to the faster and its share of the limit. */
function printTable(): void {
  const n = (v: string | number, digits = 0) =>
    v === "" ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits });
  console.table(rows.map((r) => ({
    impl: r.impl,
    backend: r.backend,
    model: r.model,
    "procs x S": `${r.processes} x ${r.replicas_per_process}${Number(r.threads) > 1 ? ` (${r.threads} threads)` : ""}`,
    "ms/step": r.ms_per_step,
    "replica-steps/s": n(r.replica_steps_per_s),
    "torch 1 seed": n(r.torch_seed_steps_per_s),
    "torch bmm": n(r.torch_batched_replica_steps_per_s),
    "x best torch": r.ratio_to_best_torch === "" ? "-" : Number(r.ratio_to_best_torch).toFixed(2),
    "% of f32x4 limit": r.fraction_of_peak === "" ? "-" : (100 * Number(r.fraction_of_peak)).toFixed(2),
    ...(rows.some((r) => r.dispatches_per_step !== "")
      ? {
        "dispatches/step": r.dispatches_per_step === "" ? "-" : r.dispatches_per_step,
        "host ms/step": r.host_ms_per_step === "" ? "-" : r.host_ms_per_step,
        tiles: r.tiles === "" ? "-" : r.tiles,
      }
      : {}),
  })));
}

for (const backend of (["cpu", "wasm"] as const).filter((b) => backends.includes(b))) {
  await useBackend(backend);
  for (const m of MODELS) {
    for (const kernel of ["op", "fused"] as const) {
      for (const S of replicaCounts) {
        const { ms } = await msPerStep(m.echo, m.hidden, S, kernel);
        add(kernel === "op" ? "op-level" : "fused", backend, m.name, S, [ms]);
      }
    }
  }
}
if (backends.includes("webgpu")) {
  const adapter = await findWebGpuAdapter();
  if (typeof adapter === "string") console.log(`webgpu rows skipped: ${adapter}`);
  else {
    await useBackend("webgpu");
    const label = webgpuLabel(adapter);
    for (const m of MODELS) {
      for (const S of WEBGPU_REPLICAS[adapter.software ? "software" : "hardware"]) {
        // A tensor past the adapter's binding limit would read back as zeros: such a row is not measured.
        const need = largestBuffer({ seeds: S, batch: 5, bptt: 20, hidden: m.hidden, cell: "rnn", echoStep: m.echo });
        if (need > webgpuBufferLimit()) {
          console.log(`webgpu ${m.name} x ${S} skipped: a ${need} B buffer passes the adapter's binding limit`);
          continue;
        }
        const { ms, gpu } = await msPerStep(m.echo, m.hidden, S, "fused");
        add("fused", label, m.name, S, [ms], 1, gpu);
      }
    }
  }
}
if (!backends.includes("wasm")) {
  printTable();
  console.log(`csv: ${log.path}`);
  Deno.exit(0);
}
const procs = navigator.hardwareConcurrency;
const auto = (await useBackend("auto")).name;
for (const m of MODELS) add("fused", auto, m.name, 64, await processesMs(m.name, 64, procs));
// Every core in one process: 64 replicas a core over as many Web Workers (--threads, lib/threads.ts).
for (const m of MODELS) add("fused", auto, m.name, 64 * procs, [await threadsMs(m, 64 * procs, procs)], procs);
printTable();

const e2e = await echo3EndToEnd();
const torchE2e = typeof torch === "string" ? null : torch.echo3_end_to_end_s;
console.log(
  `echo3 end to end (5 epochs, test, check; backend auto): ${e2e.toFixed(1)} s` +
    (torchE2e ? `; PyTorch notebook ${torchE2e.toFixed(1)} s; ratio ${(e2e / torchE2e).toFixed(2)}` : ""),
);
const endToEnd = (impl: string, backend: string, seconds: number) =>
  log.append({
    run_id: runId,
    impl,
    backend,
    threads: 1,
    processes: 1,
    model: "echo3",
    replicas_per_process: 1,
    end_to_end_s: +seconds.toFixed(2),
  });
endToEnd("echolab", auto, e2e);
if (torchE2e) endToEnd(`pytorch ${(torch as Torch).torch}`, "cpu (torch)", torchE2e);
console.log(`csv: ${log.path}`);
