/**
 * Every core in one process: the seeds of a run split into contiguous
 * blocks, one per Web Worker (lib/threads_worker.ts), each with its own tfjs
 * and wasm instance running the same {@linkcode LocalTrainer} on its block.
 * They share nothing but their results, which this thread gathers in seed
 * order. A replica's arithmetic does not depend on which replicas share its
 * block (its data, initialisation and updates are its own), so results are
 * bit-identical for any thread count (tests/experiments/threads_test.ts).
 * Workers are threads of this process: they end with it (a signal, an exit).
 */
import type { BackendName } from "./backend.ts";
import type { RunConfig } from "./cli.ts";
import { LocalTrainer, type ReplicaTrainer, type TestTally, type TrainTally } from "./replicas.ts";
import type { EchoCheck, OnStep } from "./train.ts";

/** `seeds` in `n` contiguous blocks whose sizes differ by at most one, the larger first; none empty. */
export function seedBlocks(seeds: readonly number[], n: number): number[][] {
  const k = Math.max(1, Math.min(n, seeds.length)), base = Math.floor(seeds.length / k), extra = seeds.length % k;
  const blocks: number[][] = [];
  for (let b = 0, at = 0; b < k; b++) {
    const size = base + (b < extra ? 1 : 0);
    blocks.push(seeds.slice(at, at + size));
    at += size;
  }
  return blocks;
}

/**
 * The trainer of `cfg`'s replicas on `threads` threads: this one alone
 * (a {@linkcode LocalTrainer}) for one thread or one replica, else a
 * {@linkcode WorkerPool} of `min(threads, replicas)` workers on `backend`
 * (the tfjs backend loaded here: cpu or wasm). `progress`: whether `onStep`
 * callbacks are wanted (workers then report about ten times a second).
 * Rejects with the error a worker met while allocating (a RangeError where
 * the data does not fit), after ending every worker.
 */
export async function replicaTrainer(
  cfg: RunConfig,
  threads: number,
  backend: BackendName,
  progress: boolean,
): Promise<ReplicaTrainer> {
  if (threads <= 1 || cfg.seeds.length <= 1) return new LocalTrainer(cfg);
  return await WorkerPool.start(cfg, seedBlocks(cfg.seeds, threads), backend, progress);
}

/** A worker's report of its running means, for {@linkcode OnStep}. */
interface StepReport {
  done: number;
  total: number;
  loss: number;
  accuracy: number;
  /** Replicas the means are over. */
  weight: number;
}

/** What a worker posts: a step report, the answer to the last request, or the error it met. */
type Reply =
  | ({ type: "step" } & StepReport)
  | { type: "done"; value: unknown }
  | { type: "error"; name: string; message: string };

/** A request to a worker (lib/threads_worker.ts answers each with one `done` or `error`). */
export type Request =
  | { op: "init"; cfg: RunConfig; backend: BackendName; progress: boolean }
  | { op: "train" }
  | { op: "test" }
  | { op: "check"; length: number }
  | { op: "dispose" };

/** What `init` answers. */
export interface WorkerInfo {
  parameters: number;
  recurrence: string;
}

/** One worker and the request it is answering. */
class Thread {
  readonly worker = new Worker(new URL("./threads_worker.ts", import.meta.url).href, { type: "module" });
  #pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  #onStep: ((r: StepReport) => void) | null = null;

  constructor() {
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const reply = e.data;
      if (reply.type === "step") return this.#onStep?.(reply);
      const pending = this.#pending;
      this.#pending = null;
      if (reply.type === "done") pending?.resolve(reply.value);
      else pending?.reject(new (reply.name === "RangeError" ? RangeError : Error)(reply.message));
    };
    // An uncaught error in the worker (it should answer with `error`) fails the request instead of the process.
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const pending = this.#pending;
      this.#pending = null;
      pending?.reject(new Error(`a training worker failed: ${e.message}`));
    };
  }

  call<T>(request: Request, onStep: ((r: StepReport) => void) | null = null): Promise<T> {
    if (this.#pending) throw new Error("a training worker was asked twice at once");
    this.#onStep = onStep;
    return new Promise<T>((resolve, reject) => {
      this.#pending = { resolve: resolve as (v: unknown) => void, reject };
      this.worker.postMessage(request);
    });
  }
}

/**
 * The replicas split over workers, one block of seeds each: every call asks
 * all of them at once and joins their answers in block order, which is seed
 * order. `onStep` sees the workers' running means joined, weighted by the
 * replicas each is over, and the mean of their steps done.
 */
export class WorkerPool implements ReplicaTrainer {
  readonly #threads: Thread[];
  readonly #info: WorkerInfo;
  /** Tensors each worker still held after freeing its trainer (0 each when nothing leaks). */
  tensorsLeft: number[] = [];

  private constructor(threads: Thread[], info: WorkerInfo) {
    this.#threads = threads;
    this.#info = info;
  }

  /** Starts one worker per block and builds each one's trainer. */
  static async start(
    cfg: RunConfig,
    blocks: number[][],
    backend: BackendName,
    progress: boolean,
  ): Promise<WorkerPool> {
    const threads = blocks.map(() => new Thread());
    try {
      const infos = await Promise.all(
        threads.map((t, b) => t.call<WorkerInfo>({ op: "init", cfg: { ...cfg, seeds: blocks[b] }, backend, progress })),
      );
      return new WorkerPool(threads, infos[0]);
    } catch (err) {
      threads.forEach((t) => t.worker.terminate());
      throw err;
    }
  }

  get parameters(): number {
    return this.#info.parameters;
  }

  get recurrence(): string {
    return this.#info.recurrence;
  }

  async train(onStep?: OnStep): Promise<TrainTally> {
    const parts = await this.#all<TrainTally>({ op: "train" }, onStep);
    return {
      correct: parts.flatMap((p) => p.correct),
      loss: parts.flatMap((p) => p.loss),
      alive: parts.flatMap((p) => p.alive),
      digits: parts[0].digits,
    };
  }

  async test(onStep?: OnStep): Promise<TestTally> {
    const parts = await this.#all<TestTally>({ op: "test" }, onStep);
    return { correct: parts.flatMap((p) => p.correct), digits: parts[0].digits };
  }

  async echoCheck(length: number): Promise<EchoCheck[]> {
    return (await this.#all<EchoCheck[]>({ op: "check", length })).flat();
  }

  async dispose(): Promise<void> {
    try {
      this.tensorsLeft = await this.#all<number>({ op: "dispose" });
    } finally {
      this.#threads.forEach((t) => t.worker.terminate());
    }
  }

  /** Asks every worker `request`; their answers in block order. A failed one fails the whole, ending every worker. */
  async #all<T>(request: Request, onStep?: OnStep): Promise<T[]> {
    const latest: (StepReport | null)[] = this.#threads.map(() => null);
    const joined = (b: number) => (r: StepReport) => {
      latest[b] = r;
      const got = latest.filter((x): x is StepReport => x !== null);
      const weight = got.reduce((a, x) => a + x.weight, 0);
      const mean = (f: (x: StepReport) => number) => got.reduce((a, x) => a + f(x) * x.weight, 0) / Math.max(1, weight);
      const done = Math.floor(latest.reduce((a, x) => a + (x?.done ?? 0), 0) / latest.length);
      onStep!(done, r.total, mean((x) => x.loss), mean((x) => x.accuracy));
    };
    try {
      return await Promise.all(this.#threads.map((t, b) => t.call<T>(request, onStep ? joined(b) : null)));
    } catch (err) {
      this.#threads.forEach((t) => t.worker.terminate());
      throw err;
    }
  }
}
