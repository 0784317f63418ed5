/**
 * Runs independent experiment configurations as child processes, `jobs` at a
 * time, so a sweep uses every core (tfjs's cpu and wasm backends use one
 * core per process). Each child is an ordinary experiment script run with
 * flags; its output goes to a log file beside its CSV.
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
}

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * Runs `script` (a path under experiments/) once per job with `--out
 * <outDir>/<id>` and `--name <id>`, at most `jobs` at once, calling `onDone`
 * as each finishes. Jobs start in the given order: put the longest first.
 */
export async function runSweep(
  script: string,
  list: SweepJob[],
  outDir: string,
  jobs: number,
  onDone: (r: SweepResult, done: number, total: number) => void,
): Promise<SweepResult[]> {
  const queue = [...list];
  const results: SweepResult[] = [];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const dir = `${outDir}/${job.id}`;
      Deno.mkdirSync(dir, { recursive: true });
      const log = `${dir}/${job.id}.log`;
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
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      Deno.writeTextFileSync(log, text);
      const r = { id: job.id, code: out.code, seconds: (performance.now() - t0) / 1000, log };
      results.push(r);
      onDone(r, results.length, list.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, list.length)) }, worker));
  return results;
}
