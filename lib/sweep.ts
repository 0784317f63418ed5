/**
 * Runs independent experiment configurations as child processes, `jobs` at a
 * time, each with `--threads` workers (lib/threads.ts), so that a sweep uses
 * every core and never more ({@linkcode divideCores}). Each child is an ordinary experiment script run with
 * flags; its output goes to a log file beside its CSV as it arrives, named
 * with the sweep's run id so that no earlier log is overwritten. Children
 * die with the sweep (lib/parent_watch.ts): SIGINT or SIGTERM of the sweep
 * ends them before it exits, and a child whose sweep is gone stops itself.
 */
import { DurableAppender } from "./durable.ts";
import { isStopping, spawnChild } from "./parent_watch.ts";
import { UsageError } from "./usage_error.ts";

/** A sweep's children at once and the threads of each, from {@linkcode divideCores}. */
export interface CoreShare {
  jobs: number;
  threads: number;
}

/**
 * The cores divided between a sweep's `--jobs` (children at once) and each
 * child's `--threads`: without `--threads`, each child gets
 * `floor(cores / jobs)` threads, at least 1 (so `--jobs` alone may still ask
 * for more children than cores, one thread each, as before); with
 * `--threads T` and no `--jobs`, `floor(cores / T)` children at once, at
 * least 1. `jobs` is `--jobs` or, when `jobsGiven` is false, the sweep's own
 * default; `most` caps the threads a child gets by default (1 where the
 * sweep's backend runs in one thread: `defaultThreads(backend)`). Throws a {@linkcode UsageError} naming both flags where `--threads`
 * is given and jobs x threads exceeds the cores.
 */
export function divideCores(
  jobs: number,
  jobsGiven: boolean,
  threads: number | null,
  most = Infinity,
  cores: number = navigator.hardwareConcurrency,
): CoreShare {
  if (threads === null) return { jobs, threads: Math.max(1, Math.min(most, Math.floor(cores / jobs))) };
  const share = { jobs: jobsGiven ? jobs : Math.max(1, Math.floor(cores / threads)), threads };
  if (share.jobs * share.threads > cores) {
    throw new UsageError(
      `--jobs ${share.jobs} x --threads ${threads} is ${share.jobs * threads} threads, more than the ${cores} ` +
        `core(s) here; lower --jobs or --threads`,
    );
  }
  return share;
}

/** One configuration of a sweep. */
export interface SweepJob {
  /** Short id, also the name of the job's output directory. */
  id: string;
  /** Flags for the experiment script. */
  args: string[];
}

/** How one job ended. */
export interface SweepResult {
  id: string;
  code: number;
  seconds: number;
  log: string;
  /** The CSV the child wrote (its `csv: PATH` line), if it got that far. */
  csv?: string;
  /** The child's last line on stderr, for a failed job. */
  error?: string;
}

/** Callbacks of {@linkcode runSweep} besides the one per finished job. */
export interface SweepHooks {
  /** A job's child has started; its log is `log`. */
  onStart?: (id: string, log: string) => void;
  /** A piece of a job's stdout, already in its log (pieces need not end at line ends). */
  onOutput?: (id: string, text: string) => void;
}

/** What a child printed and how it exited, from {@linkcode runLogged}. */
export interface LoggedRun {
  code: number;
  stdout: string;
  /** The last non-blank line of its stderr, if any. */
  error?: string;
}

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * Runs `command args` as a watched child (lib/parent_watch.ts) and writes its
 * stdout and stderr to `log`, a new file, as they arrive (each piece whole,
 * short writes looped), so a long run can be followed with `tail -f`.
 * `onStdout` sees each piece of stdout after it is in the log.
 */
export async function runLogged(
  command: string,
  args: string[],
  log: string,
  onStdout: (text: string) => void = () => {},
  env: Record<string, string> = { NO_COLOR: "1" },
): Promise<LoggedRun> {
  // Durable like every file the suite writes: a piece is written whole and flushed, or cut back (lib/durable.ts).
  const file = DurableAppender.create(log, "");
  const child = spawnChild(command, args, env);
  const copy = async (stream: ReadableStream<Uint8Array>, each: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      file.append(chunk, 1);
      each(decoder.decode(chunk, { stream: true }));
    }
  };
  let stdout = "", stderr = "";
  await Promise.all([
    copy(child.stdout, (t) => {
      stdout += t;
      onStdout(t);
    }),
    copy(child.stderr, (t) => stderr += t),
  ]);
  const { code } = await child.status;
  return { code, stdout, error: stderr.trim().split("\n").filter((l) => l.trim() !== "").pop() };
}

/**
 * Runs `script` (a path under experiments/) once per job with `--out
 * <outDir>/<id>` and `--name <id>`, at most `jobs` at once, calling `onDone`
 * as each finishes; each job's output goes to `<outDir>/<id>/<id>-<runId>.log`,
 * a new file, as it is printed. Jobs start in the given order: put the
 * longest first. Once a signal is stopping the sweep
 * (`stopChildrenOnSignals`), no job starts and none is reported.
 */
export async function runSweep(
  script: string,
  list: SweepJob[],
  outDir: string,
  jobs: number,
  runId: string,
  onDone: (r: SweepResult, done: number, total: number) => void,
  hooks: SweepHooks = {},
): Promise<SweepResult[]> {
  const queue = [...list];
  const results: SweepResult[] = [];
  const worker = async () => {
    for (let job = queue.shift(); job && !isStopping(); job = queue.shift()) {
      const id = job.id;
      const dir = `${outDir}/${id}`;
      Deno.mkdirSync(dir, { recursive: true });
      const log = `${dir}/${id}-${runId}.log`;
      const t0 = performance.now();
      const args = ["run", "--allow-read", `--allow-write=${dir}`, `${ROOT}${script}`, ...job.args];
      const run = runLogged("deno", [...args, "--name", id, "--out", dir], log, (t) => hooks.onOutput?.(id, t));
      hooks.onStart?.(id, log);
      const out = await run;
      if (isStopping()) return;
      const csv = /^csv: (.+)$/m.exec(out.stdout)?.[1];
      const r = { id, code: out.code, seconds: (performance.now() - t0) / 1000, log, csv, error: out.error };
      results.push(r);
      onDone(r, results.length, list.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, list.length)) }, worker));
  return results;
}
