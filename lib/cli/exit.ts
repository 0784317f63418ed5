/**
 * How every script ends on bad input or a failure: one line on stderr, exit
 * code 2 for bad input found before anything is written, 1 for a failure
 * while running, never a stack trace. Not the flags themselves
 * (lib/cli/flags.ts) nor the checks of a path to write (lib/cli/paths.ts).
 */
import { type BackendChoice, type BackendName, useBackend } from "../backend.ts";
import { UsageError } from "../usage_error.ts";

/**
 * Exit codes of every script (printed by `--help`): 0 done; 1 a failure while
 * running (the OS error or what failed, one line); 2 bad input, a forced
 * backend that cannot load, or a run over the memory budget, found before
 * anything is written.
 */
export const EXIT_CODES = "exit codes: 0 done; 1 failed while running (one line on stderr);\n" +
  "  2 bad input, a forced backend that cannot load, or over --max-memory (one line; nothing written)";

let exitHandlerInstalled = false;

/**
 * From now on an uncaught error or rejected promise prints `error: <first
 * line of its message>` and exits with code 1, instead of a stack trace.
 */
export function exitCleanlyOnErrors(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  const fail = (e: Event, err: unknown) => {
    e.preventDefault();
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(1);
  };
  globalThis.addEventListener("error", (e) => fail(e, (e as ErrorEvent).error ?? (e as ErrorEvent).message));
  globalThis.addEventListener("unhandledrejection", (e) => fail(e, (e as PromiseRejectionEvent).reason));
}

/** The first line of an error's message, without a stack. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // Our own messages are one line by construction: a line break in one comes from a name the user gave (a path),
  // so it is shown escaped rather than cutting the message. Other errors (the OS, tfjs) keep their first line.
  if (err instanceof UsageError) return escapeControls(text.trim());
  return escapeControls(
    (text.split("\n").find((l) => l.trim() !== "") ?? (err as Error)?.name ?? "unknown error").trim(),
  );
}

/** Control characters: line breaks, tabs, the escape that starts a terminal's colour codes. */
// deno-lint-ignore no-control-regex
export const CONTROLS = /[\x00-\x1f\x7f]/g;

/** `text` with control characters (line breaks, escape codes) written as `\n`, `\x1b`, so it prints as one plain line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => c === "\n" ? "\\n" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Runs `parse`; on a {@linkcode UsageError} or a `node:util` parseArgs error
 * (unknown flag, missing value) prints `error: <one line>` and exits with
 * code 2 before anything is written. Also installs
 * {@linkcode exitCleanlyOnErrors}, so a later failure prints one line too.
 */
export function parseOrExit<T>(parse: () => T): T {
  exitCleanlyOnErrors();
  try {
    return parse();
  } catch (err) {
    const code = String((err as { code?: string }).code ?? "");
    if (!(err instanceof UsageError) && !code.startsWith("ERR_PARSE_ARGS")) throw err;
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(2);
  }
}

/**
 * {@linkcode useBackend}, or, when a forced backend cannot load, one line on
 * stderr and exit code 2 (README, Backends).
 */
export async function useBackendOrExit(name: BackendName): Promise<BackendChoice> {
  try {
    return await useBackend(name);
  } catch (err) {
    console.error(`error: ${firstLine(err)}`);
    Deno.exit(2);
  }
}
