/**
 * A sweep and its child processes live and die together.
 *
 * Child side: {@linkcode exitWhenParentDies}, called near the start of an
 * experiment, stops the child once the sweep that started it is gone (killed
 * with SIGKILL, crashed), instead of letting it train on as an orphan. It is
 * on only when the sweep says so, through {@linkcode PARENT_ENV} (the
 * sweep's pid), so interactive runs are unaffected. A Deno child watches from
 * an unref'd worker thread (lib/parent_watch_worker.ts; training never yields
 * to the main thread's timers, and an unref'd worker does not keep a finished
 * child alive), which reads the stdin pipe until EOF and checks the parent
 * pid twice a second; Python children (bench/torch_parity.py) read their
 * stdin pipe until EOF in a daemon thread.
 *
 * Parent side: {@linkcode spawnChild} starts a child with that variable, a
 * stdin pipe that is never written to, and, for `deno`, the one permission
 * needed to read the variable; {@linkcode stopChildrenOnSignals} makes
 * SIGINT and SIGTERM of the sweep end every live child before the sweep exits.
 */

import { Worker } from "node:worker_threads";

/** Environment variable holding the sweep's pid; set only for a sweep's children. */
export const PARENT_ENV = "ECHOLAB_PARENT_PID";

/**
 * In a sweep's child (when {@linkcode PARENT_ENV} is set and may be read):
 * ends this process with SIGTERM (exit status 143), after one line on
 * stderr, as soon as the parent is gone. Elsewhere, or without the
 * permission to read the variable, does nothing; it never prompts for a
 * permission.
 */
export function exitWhenParentDies(): void {
  let raw: string | undefined;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: PARENT_ENV }).state !== "granted") return;
    raw = Deno.env.get(PARENT_ENV);
  } catch {
    return;
  }
  const parent = Number(raw);
  if (!raw || !Number.isInteger(parent) || parent <= 0) return;
  const worker = new Worker(new URL("./parent_watch_worker.ts", import.meta.url), { workerData: parent });
  worker.unref();
}

const live = new Set<Deno.ChildProcess>();
let stopping = false;

/** Whether a signal is stopping this sweep: its children are being ended; report nothing more. */
export function isStopping(): boolean {
  return stopping;
}

/**
 * Spawns `command` as a watched child: {@linkcode PARENT_ENV} set to this
 * process's pid, stdin a pipe this process never writes to (EOF when it
 * dies), stdout and stderr piped; a `deno run` child also gets
 * `--allow-env=ECHOLAB_PARENT_PID` right after `run`. Until it exits, the
 * child is among those {@linkcode stopChildrenOnSignals} ends.
 */
export function spawnChild(command: string, args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  const argv = command === "deno" && args[0] === "run" ? ["run", `--allow-env=${PARENT_ENV}`, ...args.slice(1)] : args;
  const child = new Deno.Command(command, {
    args: argv,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { ...env, [PARENT_ENV]: String(Deno.pid) },
  }).spawn();
  live.add(child);
  child.status.then(() => {
    live.delete(child);
    child.stdin.close().catch(() => {/* the pipe is gone with the child */});
  });
  return child;
}

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * From now until the returned function is called, SIGINT or SIGTERM sends
 * SIGTERM to every live child, waits for them (SIGKILL after `graceMs`),
 * prints one line, `error: <signal>: <what>`, and exits 130 or 143.
 * `what` is called once the children are gone, e.g. to name what to rerun.
 */
export function stopChildrenOnSignals(what: (killed: number) => string, graceMs = 5000): () => void {
  const handlers = (Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]).map((signal) => {
    const handler = async () => {
      if (stopping) return;
      stopping = true;
      const children = [...live];
      for (const c of children) {
        try {
          c.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      const timer = setTimeout(() => {
        for (const c of live) {
          try {
            c.kill("SIGKILL");
          } catch { /* already gone */ }
        }
      }, graceMs);
      await Promise.all(children.map((c) => c.status));
      clearTimeout(timer);
      console.error(`error: ${signal}: ${what(children.length)}`);
      Deno.exit(SIGNALS[signal]);
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => handlers.forEach(([signal, handler]) => Deno.removeSignalListener(signal, handler));
}
