/**
 * Runs independent experiment configurations as child processes, `jobs` at a
 * time, so a sweep uses every core (tfjs's cpu and wasm backends use one
 * core per process). Each child is an ordinary experiment script run with
 * flags; its output goes to a log file beside its CSV, named with the
 * sweep's run id so that no earlier log is overwritten.
 */

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

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * Runs `script` (a path under experiments/) once per job with `--out
 * <outDir>/<id>` and `--name <id>`, at most `jobs` at once, calling `onDone`
 * as each finishes; each job's output goes to `<outDir>/<id>/<id>-<runId>.log`,
 * a new file. Jobs start in the given order: put the longest first.
 */
export async function runSweep(
  script: string,
  list: SweepJob[],
  outDir: string,
  jobs: number,
  runId: string,
  onDone: (r: SweepResult, done: number, total: number) => void,
): Promise<SweepResult[]> {
  const queue = [...list];
  const results: SweepResult[] = [];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const dir = `${outDir}/${job.id}`;
      Deno.mkdirSync(dir, { recursive: true });
      const log = `${dir}/${job.id}-${runId}.log`;
      const t0 = performance.now();
      const child = new Deno.Command("deno", {
        args: [
          "run",
          "--allow-read",
          `--allow-write=${dir}`,
          `${ROOT}${script}`,
          ...job.args,
          "--name",
          job.id,
          "--out",
          dir,
        ],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      });
      const out = await child.output();
      const stdout = new TextDecoder().decode(out.stdout), stderr = new TextDecoder().decode(out.stderr);
      Deno.writeTextFileSync(log, stdout + stderr, { createNew: true });
      const csv = /^csv: (.+)$/m.exec(stdout)?.[1];
      const error = stderr.trim().split("\n").filter((l) => l.trim() !== "").pop();
      const r = { id: job.id, code: out.code, seconds: (performance.now() - t0) / 1000, log, csv, error };
      results.push(r);
      onDone(r, results.length, list.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, list.length)) }, worker));
  return results;
}
