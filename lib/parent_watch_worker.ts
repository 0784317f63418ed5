/**
 * The watch of lib/parent_watch.ts `exitWhenParentDies`, on a worker thread
 * of a sweep's child: the main thread trains without yielding to its timers,
 * so the check lives here. When the sweep (pid `workerData`) is gone, that is,
 * when the child's stdin pipe, held only by the sweep, reaches EOF or the
 * child's parent pid changes, it prints one line and ends the whole process
 * with SIGTERM (exit status 143; Deno lets a process signal itself without
 * --allow-run).
 */
import { workerData } from "node:worker_threads";

const parent = workerData as number;
let ending = false;

function end(why: string): void {
  if (ending) return;
  ending = true;
  try {
    console.error(`error: the sweep that started this run (pid ${parent}) is gone (${why}); stopping`);
  } catch { /* its stderr went with it */ }
  Deno.kill(Deno.pid, "SIGTERM");
}

setInterval(() => {
  if (Deno.ppid !== parent) end("parent pid changed");
}, 500);

(async () => {
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) { /* the sweep never writes; keep reading to EOF */ }
  } catch {
    /* a closed or unreadable stdin says nothing about the sweep; the pid check stays */
    return;
  }
  end("stdin closed");
})();
