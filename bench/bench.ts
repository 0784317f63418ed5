/**
 * `deno task bench`: training speed of the suite against the notebook's own
 * PyTorch code, measured in one invocation on this machine.
 *
 * For each backend (cpu, wasm), path (op-level, fused), model (echo3: H 4;
 * echo10-h60: H 60) and replica count (1, 8, 64, 256) it times trainEpoch
 * steps and prints ms per step, steps per second, replicas x steps per second,
 * and the ratio of the latter to PyTorch's single-seed steps per second. It
 * also runs one 64-replica sweep per core as separate processes (how
 * exp:memory uses the machine), times echo3 end to end (5 epochs, test,
 * random-sequence check) on `auto`, and runs bench/notebook_torch.py with
 * /usr/bin/python3 when PyTorch is there.
 *
 * Where WebGPU finds an adapter it adds fused rows for `webgpu`, whose
 * backend column names the adapter: on a software adapter (llvmpipe, in CI
 * and on our machines) a few small replica counts that show the path runs,
 * never a GPU figure; on a hardware adapter 1 to 16,384 replicas.
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
import { largestBuffer, webgpuBufferLimit } from "../lib/kernels/webgpu/limits.ts";
import { BENCH_COLUMNS, BENCH_MODELS as MODELS } from "../lib/schemas.ts";
import { type Command, type Flag, int, parseCommandOrExit, parseOrExit, UsageError } from "../lib/cli.ts";

const REPLICAS = [1, 8, 64, 256];
/** WebGPU replica counts: a software adapter runs shaders on the CPU, slowly; a GPU wants many replicas. */
const WEBGPU_REPLICAS = { software: [1, 8], hardware: [1, 64, 1024, 4096, 16384] };
const BENCH_BACKENDS = ["cpu", "wasm", "webgpu"] as const;
const BUDGET_MS = 1500;
const SCRATCH = "results/.bench-scratch";

interface Torch {
  torch: string;
  echo3_ms_per_step: number;
  echo10_h60_ms_per_step: number;
  echo3_end_to_end_s: number;
}

async function torchBaseline(): Promise<Torch | string> {
  try {
    const out = await new Deno.Command("/usr/bin/python3", { args: ["bench/notebook_torch.py", "1000"] }).output();
    if (out.code !== 0) {
      return `PyTorch baseline skipped: ${new TextDecoder().decode(out.stderr).trim().split("\n").pop()}`;
    }
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } catch (err) {
    return `PyTorch baseline skipped: ${(err as Error).message.split("\n")[0]}`;
  }
}

/** ms per training step of S replicas of a model, timed over whole chunks. */
async function msPerStep(echo: number, hidden: number, S: number, kernel: KernelKind): Promise<number> {
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
  const t0 = performance.now();
  while (performance.now() - t0 < BUDGET_MS || steps < 2 * chunks) {
    state = (await trainEpoch(model, opt, datas, state)).state;
    steps += chunks;
  }
  const ms = (performance.now() - t0) / steps;
  tf.dispose(state);
  model.dispose();
  opt.dispose();
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
    "echo3 end to end) against the notebook's PyTorch code, in one invocation; takes several minutes.",
  flags: [
    {
      name: "backends",
      type: "names",
      choices: BENCH_BACKENDS,
      default: BENCH_BACKENDS,
      show: "all; webgpu where WebGPU has an adapter",
      help: "the backends to measure",
    },
  ],
  notes: "Prints a table and writes results/bench-<run id>.csv.",
} as const satisfies Command<readonly Flag[]>;

// Child mode: `bench.ts --child MODEL REPLICAS` prints its ms per step and exits.
let backends: string[] = [...BENCH_BACKENDS];
if (Deno.args[0] !== "--child") {
  const { values, given } = parseCommandOrExit(BENCH, Deno.args, (parsed) => parsed);
  backends = values.backends;
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
  const [m, replicas] = parseOrExit(() => {
    const m = MODELS.find((m) => m.name === Deno.args[1]);
    if (!m || Deno.args.length !== 3) {
      throw new UsageError(
        `--child takes MODEL REPLICAS, MODEL one of ${MODELS.map((m) => m.name).join(", ")}, got ` +
          JSON.stringify(Deno.args.slice(1).join(" ")),
      );
    }
    return [m, int("child", Deno.args[2], 1, 1, 4096)] as const;
  });
  await useBackend("auto");
  console.log(JSON.stringify({ ms: await msPerStep(m.echo, m.hidden, replicas, "auto") }));
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
        ],
      }).output()),
  );
  return runs.map((r) => JSON.parse(new TextDecoder().decode(r.stdout)).ms);
}

const torch = await torchBaseline();
const torchMs = typeof torch === "string"
  ? null
  : { "echo3": torch.echo3_ms_per_step, "echo10-h60": torch.echo10_h60_ms_per_step };
if (typeof torch === "string") console.log(torch);

const runId = newRunId();
/**
 * One kind of value per column, units in the names: a training-speed row fills
 * ms_per_step (per process), replica_steps_per_s (all processes together) and
 * ratio_to_torch; an end-to-end row fills end_to_end_s only.
 */
const log = CsvLog.create(`results/bench-${runId}.csv`, BENCH_COLUMNS);
const rows: Record<string, string | number>[] = [];
const add = (impl: string, backend: string, model: string, S: number, ms: number[], threads = 1) => {
  const base = torchMs ? 1000 / torchMs[model as keyof typeof torchMs] : NaN;
  const rate = ms.reduce((sum, m) => sum + (1000 / m) * S, 0);
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
    ratio_to_torch: Number.isNaN(base) ? "" : +(rate / base).toFixed(2),
  };
  rows.push(row);
  log.append(row);
};
if (torchMs) {
  for (const m of MODELS) {
    add(`pytorch ${(torch as Torch).torch}`, "cpu (torch)", m.name, 1, [torchMs[m.name as keyof typeof torchMs]]);
  }
}

for (const backend of (["cpu", "wasm"] as const).filter((b) => backends.includes(b))) {
  await useBackend(backend);
  for (const m of MODELS) {
    for (const kernel of ["op", "fused"] as const) {
      for (const S of REPLICAS) {
        add(kernel === "op" ? "op-level" : "fused", backend, m.name, S, [await msPerStep(m.echo, m.hidden, S, kernel)]);
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
        add("fused", label, m.name, S, [await msPerStep(m.echo, m.hidden, S, "fused")]);
      }
    }
  }
}
if (!backends.includes("wasm")) {
  console.table(rows.map(({ run_id: _, ...r }) => r));
  console.log(`csv: ${log.path}`);
  Deno.exit(0);
}
const procs = navigator.hardwareConcurrency;
const auto = (await useBackend("auto")).name;
for (const m of MODELS) add("fused", auto, m.name, 64, await processesMs(m.name, 64, procs));
console.table(rows.map(({ run_id: _, ...r }) => r));

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
