/**
 * README.md's list of the flags every experiment takes, derived from the one
 * table of run flags (lib/cli/run.ts `RUN_FLAGS`, the notebook's defaults):
 * the `--help` entries, so the README can never say other than the scripts.
 * Not the flags themselves, nor any run's data.
 */
import { helpLine } from "../cli/flags.ts";
import { RUN_FLAGS } from "../cli/run.ts";

/** The `run-flags` block: every run flag's `--help` entry, with the notebook's defaults, in a code block. */
export function runFlagsBlock(): string {
  return ["```", ...RUN_FLAGS.map((f) => helpLine(f).replace(/^ {2}/gm, "")), "```"].join("\n");
}
