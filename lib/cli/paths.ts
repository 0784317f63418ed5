/**
 * Checks, before anything is written, that the path a flag names (`--out`)
 * can be written: its form, the folders above it, this run's permissions.
 * Not the writing itself (lib/durable.ts) nor the flags (lib/cli/flags.ts).
 */
import { UsageError } from "../usage_error.ts";
import { CONTROLS, firstLine } from "./exit.ts";

const NAME_MAX = 255, PATH_MAX = 4095;

function shortPath(path: string): string {
  return path.length > 60 ? `${path.slice(0, 28)}...${path.slice(-28)}` : path;
}

/** The folder that holds `path` ("." for a bare name, "/" at the top). */
const parentOf = (path: string) => path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";

/**
 * Checks before anything is written that `path` can be created or written as
 * a directory (`kind` "directory") or a file: no name in it is over 255
 * bytes, no existing part of it is a file where a folder must be, and the
 * nearest existing folder accepts a new file (a probe file created and
 * removed at once, so a read-only or immutable folder is caught now).
 */
function assertCreatable(flag: string, path: string, kind: "directory" | "file"): void {
  // A line break or escape code in a name would break the one-line output that names the file (`csv: PATH`).
  if (new RegExp(CONTROLS.source).test(path)) {
    throw new UsageError(
      `${flag} must not contain control characters (line breaks, escape codes), got ${JSON.stringify(path)}`,
    );
  }
  const enc = new TextEncoder();
  if (enc.encode(path).length > PATH_MAX) throw new UsageError(`${flag} ${shortPath(path)} is longer than 4095 bytes`);
  const long = path.split("/").find((part) => enc.encode(part).length > NAME_MAX);
  if (long !== undefined) {
    throw new UsageError(`${flag} ${shortPath(path)}: the name "${shortPath(long)}" is over ${NAME_MAX} bytes`);
  }
  let dir = path.replace(/\/+$/, "") || "/";
  let stat: Deno.FileInfo | null = null;
  try {
    stat = Deno.statSync(dir);
  } catch { /* not there yet */ }
  if (stat) {
    if (kind === "directory" && !stat.isDirectory) {
      throw new UsageError(`${flag} ${path} is a file; it must name a directory`);
    }
    if (kind === "file" && stat.isDirectory) {
      throw new UsageError(`${flag} ${path} is a directory; it must name a file`);
    }
  }
  if (kind === "file" || !stat) dir = parentOf(dir);
  // The nearest existing ancestor must be a directory we can create files in.
  for (;;) {
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(dir);
    } catch { /* keep walking up */ }
    if (info) {
      if (!info.isDirectory) throw new UsageError(`${flag} ${path}: ${dir} is a file, not a directory`);
      break;
    }
    if (dir === "." || dir === "/") return;
    dir = parentOf(dir);
  }
  // Outside this run's permissions the caller's check speaks; querying first never prompts.
  if (Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted") return;
  let probe = "";
  try {
    probe = Deno.makeTempFileSync({ dir, prefix: ".echolab-probe-" });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) return;
    throw new UsageError(`${flag} ${path} is not writable: ${firstLine(err).replace(/: tmpfile.*$/, "")}`);
  } finally {
    if (probe) Deno.removeSync(probe);
  }
}

function assertPermitted(flag: string, path: string, task: string): void {
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw new UsageError(
      `${flag} ${path} is not writable with this run's permissions (tasks allow results/; ` +
        `run ${task} with deno run --allow-write=${path} instead)`,
    );
  }
}

/** Whether `path` is an existing directory (false where it is missing, a file, or cannot be read). */
export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Throws the `--out must name a directory, got ""` error for an empty or blank path. */
export function assertNamed(flag: string, path: string, kind: "directory" | "file"): void {
  if (path.trim() === "") throw new UsageError(`${flag} must name a ${kind}, got ""`);
}

/**
 * Returns `path`, or throws a {@linkcode UsageError} unless this run's
 * permissions let it write there, it is not an existing file, and the
 * file system will let it create the directory and files in it.
 */
export function assertWritable(flag: string, path: string, task: string): string {
  assertNamed(flag, path, "directory");
  assertCreatable(flag, path, "directory");
  assertPermitted(flag, path, task);
  return path;
}

/** {@linkcode assertWritable} for a flag that names a file (which may exist). */
export function assertWritableFile(flag: string, path: string, task: string): string {
  assertNamed(flag, path, "file");
  assertCreatable(flag, path, "file");
  assertPermitted(flag, path, task);
  return path;
}
