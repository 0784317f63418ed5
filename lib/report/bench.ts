/**
 * The benchmark in the findings: training speed (one process or several)
 * against the best of PyTorch's two ways (the notebook's single seed, S
 * replicas batched with bmm), its share of one core's f32x4 multiply-add
 * limit, and end-to-end time against the notebook's PyTorch code, from
 * `deno task bench`'s CSV. Its section of results/README.md and the README's
 * bench and backend-speed blocks. Not for measuring anything (bench/bench.ts).
 */
import type { Row } from "../summary.ts";
import { f1, f2, int } from "./format.ts";

/** The README blocks the benchmark fills. */
export interface BenchBlocks {
  bench: string;
  "backend-speed": string;
}

/** The benchmark, summarised. */
export interface BenchReport {
  /** Its section of results/README.md. */
  markdown: string;
  blocks: BenchBlocks;
}

/**
 * The benchmark from its CSV's rows and its path relative to results/
 * (`path`, linked from the README): the table of training-speed rows, the
 * speed-ups of 64 and 256 replicas and of several processes over the best
 * PyTorch way the run timed, the share of the f32x4 limit where the run
 * measured it, and wasm's over cpu.
 */
export function benchReport(rows: Row[], path: string): BenchReport {
  const speed = rows.filter((r) => r.replica_steps_per_s !== "");
  const row = (impl: string, backend: string, model: string, replicas: string, processes = "1", threads = "1") =>
    speed.find((r) =>
      r.impl === impl && r.backend === backend && r.model === model && r.replicas_per_process === replicas &&
      r.processes === processes && r.threads === threads
    );
  const ratio = (r: Row | undefined) => Number(r?.ratio_to_best_torch);
  const cell = (v: string, show: (x: number) => string) => (v === "" ? "-" : show(Number(v)));
  const batched = speed.some((r) => r.torch_batched_replica_steps_per_s !== "");
  const peak = speed.find((r) => r.core_peak_macs_per_s !== "")?.core_peak_macs_per_s;
  // Runs before the per-row PyTorch columns: the single seed's figure is its own row's.
  const seedOf = (model: string) =>
    speed.find((r) => /^pytorch \S+$/.test(r.impl) && r.model === model)?.replica_steps_per_s ?? "";
  const speedups = (impl: string) =>
    speed.filter((r) => r.impl === impl && r.backend === "wasm" && r.processes === "1" && r.threads === "1").map((w) =>
      Number(w.replica_steps_per_s) / Number(row(impl, "cpu", w.model, w.replicas_per_process)?.replica_steps_per_s)
    ).filter(Number.isFinite);
  const range = (xs: number[]) => `${f1(Math.min(...xs))}-${f1(Math.max(...xs))}x`;
  // The WebGPU epoch's per-step counts (issue 17), as columns only where the run measured them.
  const gpu = speed.some((r) => (r.dispatches_per_step ?? "") !== "");
  const gpuCells = (r: Row) =>
    gpu ? ` ${r.dispatches_per_step || "-"} | ${r.host_ms_per_step || "-"} | ${r.tiles || "-"} |` : "";
  const table =
    "| implementation | backend | model | processes x replicas | ms / step (per process) | replicas x steps / s | PyTorch 1 seed | PyTorch bmm | vs best PyTorch | of the f32x4 limit |" +
    (gpu ? " dispatches / step | host ms / step | tiles |" : "") +
    "\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (gpu ? " ---: | ---: | ---: |" : "") +
    "\n" +
    speed.map((r) =>
      `| ${r.impl} | ${r.backend} | ${r.model} | ${r.processes} x ${r.replicas_per_process}${
        r.threads === "1" ? "" : ` (${r.threads} threads)`
      } | ${r.ms_per_step || "-"} | ${int(Number(r.replica_steps_per_s))} | ${
        cell(r.torch_seed_steps_per_s || seedOf(r.model), int)
      } | ${cell(r.torch_batched_replica_steps_per_s, int)} | ${cell(r.ratio_to_best_torch, f2)} | ${
        cell(r.fraction_of_peak, (x) => `${f1(100 * x)}%`)
      } |${gpuCells(r)}`
    ).join("\n");
  const e2e = (impl: string) => rows.find((r) => r.impl.startsWith(impl) && r.end_to_end_s !== "")?.end_to_end_s;
  const procs = speed.find((r) => r.processes !== "1")?.processes ?? "1";
  const w64 = (model: string) => ratio(row("fused", "wasm", model, "64"));
  const many = (model: string) => ratio(row("fused", "wasm", model, "64", procs));
  // One process, a Web Worker per core (runs since --threads); against the processes of the same run.
  const threaded = (model: string) => row("fused", "wasm", model, String(64 * Number(procs)), "1", procs);
  const threadsLine = (model: string) => {
    const t = threaded(model), p = row("fused", "wasm", model, "64", procs);
    return t && p
      ? `${int(Number(t.replica_steps_per_s))} replica-steps/s with ${procs} threads in one process against ${
        int(Number(p.replica_steps_per_s))
      } with ${procs} processes (${f2(Number(t.replica_steps_per_s) / Number(p.replica_steps_per_s))}x)`
      : "";
  };
  const fraction = (model: string) => Number(row("fused", "wasm", model, "64")?.fraction_of_peak || NaN);
  const bench = [
    `Measured here (batch 5, T 20, [results/${path}](results/${path})). "vs best PyTorch" divides by the faster ` +
    "of PyTorch's two ways on one thread at the row's replica count: the notebook's `nn.RNN`, one seed at a time, " +
    (batched
      ? "and the replicas batched with `bmm` (`bench/gpu/torch_replicas.py`)."
      : "which is the only one this run timed (runs since issue 16 also time the replicas batched with `bmm`)."),
    "",
    table,
    "",
    ...(peak
      ? [
        `- **The limit**: one core ran the f32x4 multiply-then-add loop (\`wasm/src/peak.ts\`) at ${
          f2(Number(peak) / 1e9)
        } G multiply-adds/s in this run. A replica-step is ${
          int(Number(speed.find((r) => r.model === "echo3")?.macs_per_replica_step))
        } multiply-adds for echo3 and ${
          int(Number(speed.find((r) => r.model === "echo10-h60")?.macs_per_replica_step))
        } for H 60 (forward and backward matmuls, \`lib/macs.ts\`), so 64 seeds in one process ran at ${
          f1(100 * fraction("echo3"))
        }% (echo3) and ${f1(100 * fraction("echo10-h60"))}% (H 60) of it.`,
      ]
      : []),
    `- **echo3 end to end** (5 epochs, test pass, random-sequence check, including Deno's start-up): ${
      e2e("echolab")
    } s against ${e2e("pytorch")} s for the notebook's PyTorch code timed inside Python.`,
    `- **Seed sweeps**: 64 echo3 seeds train at ${f1(w64("echo3"))}x the best PyTorch replica-steps per second (${
      f1(ratio(row("fused", "wasm", "echo3", "256")))
    }x with 256 replicas, ${f1(many("echo3"))}x with ${procs} processes of 64).`,
    `- **H 60**: 64 seeds reach ${f1(w64("echo10-h60"))}x the best PyTorch in one process and ${
      f1(many("echo10-h60"))
    }x with ${procs}.`,
    ...(threaded("echo3")
      ? [
        `- **Every core in one process** (\`--threads\`): echo3 ${threadsLine("echo3")}; H 60 ${
          threadsLine("echo10-h60")
        }.`,
      ]
      : []),
    `- **wasm against cpu**: with the fused kernels wasm trains ${
      range(speedups("fused"))
    } as many replica-steps per second as cpu in the rows above (op-level: ${
      range(speedups("op-level"))
    }); \`auto\` falls back to wasm, the faster op by op.`,
  ].join("\n");
  const backendSpeed = `\`wasm\` is the fallback: it measured ${
    range(speedups("op-level"))
  } as fast as \`cpu\` op by op, and ${range(speedups("fused"))} with the fused kernels (see Performance).`;
  return {
    markdown: `## Speed (\`deno task bench\`, ${path})\n\n${table}\n`,
    blocks: { bench, "backend-speed": backendSpeed },
  };
}
