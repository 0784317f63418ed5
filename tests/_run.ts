/** Runs an experiment script as a user would, in a subprocess, and reads its CSV. */
import { parse } from "csv-parse/sync";
import { assert } from "./_assert.ts";

export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
  files: string[];
  rows: Record<string, string>[];
}

const ROOT = new URL("../", import.meta.url).pathname;

/** What a subprocess printed and its exit code. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run --allow-read --allow-write=<write> [extra] <script> args` from the repository root. */
export async function runDeno(script: string, args: string[], write: string, extra: string[] = []): Promise<Run> {
  const r = await new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${write}`, ...extra, script, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Whether creating a file in `dir` fails. */
export function refusesWrites(dir: string): boolean {
  try {
    Deno.removeSync(Deno.makeTempFileSync({ dir }));
    return false;
  } catch {
    return true;
  }
}

/** Every file under `dir`, relative, sorted. */
export function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(`${rel}${e.name}${e.isDirectory ? "/" : ""}`);
      if (e.isDirectory) walk(`${d}/${e.name}`, `${rel}${e.name}/`);
    }
  };
  walk(dir, "");
  return out.sort();
}

/**
 * Asserts that a run exited with `code` after exactly one line on stderr
 * matching `re`, and no stack trace.
 */
export function oneLine(r: Run, code: number, re: RegExp, what = ""): void {
  const lines = r.stderr.trim().split("\n");
  assert.equal(r.code, code, `${what}: exit ${r.code}, stderr:\n${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: ${lines.length} lines of stderr:\n${r.stderr}`);
  assert.match(lines[0], re, what);
  assert.ok(!/\n\s+at /.test(r.stderr), `${what}: a stack trace`);
}

/** Runs experiments/<script>.ts with `args` and `--out` a fresh temp dir it may write to. */
export async function runScript(script: string, args: string[]): Promise<ScriptRun> {
  const out = await Deno.makeTempDir({ prefix: "echolab-test-" });
  const cmd = new Deno.Command("deno", {
    args: ["run", "--allow-read", `--allow-write=${out}`, `experiments/${script}.ts`, ...args, "--out", out],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const r = await cmd.output();
  const files = [...Deno.readDirSync(out)].map((e) => `${out}/${e.name}`);
  const rows = files.flatMap((f) => parse(Deno.readTextFileSync(f), { columns: true }) as Record<string, string>[]);
  await Deno.remove(out, { recursive: true });
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), files, rows };
}
