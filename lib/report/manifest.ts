/**
 * results/manifest.json: which runs the report publishes. Reads the manifest
 * and checks its shape and that every file it names exists under results/.
 * Not for reading those files (inputs.ts does, checking each CSV).
 */
import { ReadbackError, readBoundedText } from "../readback.ts";
import { ReportError } from "./error.ts";

/** The notebook's experiments, in the notebook's order: the keys of the manifest's `notebook`. */
export const NOTEBOOK_ORDER = ["echo3", "echo10-h4", "echo10-h60", "echo10-deep"];

/** The published runs, each path relative to results/. */
export interface Manifest {
  /** One run per name of {@linkcode NOTEBOOK_ORDER}. */
  notebook: Record<string, string>;
  /** An echo3 run with the default flags, whose log the README shows. */
  echo3Default: string;
  /** The RNN H60 run with the op-level kernels, compared with exp:memory's fused one. */
  kernelComparison: string;
  /** One exp:memory run of each configuration. */
  memory: string[];
  gradients: string;
  /** The merged capacity CSV. */
  capacity: string;
  /** The shards it was merged from. */
  capacityShards: string[];
  bench: string;
  /** A folder holding exp:parity's summary.csv. */
  parity: string;
}

/** The manifest's keys and what each names: one file, a list of files, a folder holding summary.csv. */
export const MANIFEST_KEYS = {
  about: "text",
  notebook: "notebook",
  echo3Default: "file",
  kernelComparison: "file",
  memory: "files",
  gradients: "file",
  capacity: "file",
  capacityShards: "files",
  bench: "file",
  parity: "folder",
} as const;

/**
 * Reads and checks the manifest: a JSON object with every key the report
 * reads and no other, each naming, relative to results/, an existing regular
 * file (`parity`: a folder holding summary.csv), lists non-empty and without
 * repeats. Refusals are a {@linkcode ReportError} of one line naming the
 * manifest and the key.
 */
export function readManifest(path: string): Manifest {
  const bad = (what: string) => new ReportError(`--manifest ${path}: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(readBoundedText(path, "manifest (JSON)"));
  } catch (err) {
    if (err instanceof ReadbackError) throw new ReportError(`--manifest ${err.message}`);
    throw bad(`not JSON (${(err as Error).message.split("\n")[0]})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`not a JSON object of the published runs (got ${Array.isArray(value) ? "an array" : String(value)})`);
  }
  const m = value as Record<string, unknown>;
  const unknown = Object.keys(m).find((k) => !(k in MANIFEST_KEYS));
  if (unknown !== undefined) throw bad(`unknown key "${unknown}" (it has ${Object.keys(MANIFEST_KEYS).join(", ")})`);
  /** Checks that `p` (at `key`) names an existing regular file under results/, or a folder with summary.csv. */
  const named = (key: string, p: unknown, folder = false) => {
    if (typeof p !== "string" || p === "" || p.startsWith("/") || p.split("/").includes("..")) {
      throw bad(`${key} must be a path relative to results/, got ${JSON.stringify(p) ?? "nothing"}`);
    }
    const file = folder ? `results/${p}/summary.csv` : `results/${p}`;
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(file);
    } catch { /* said below */ }
    if (!info?.isFile) {
      throw bad(`${key} names ${file}, which ${info ? "is not a regular file" : "does not exist"}`);
    }
  };
  for (const [key, kind] of Object.entries(MANIFEST_KEYS)) {
    const v = m[key];
    if (kind === "text") continue;
    if (v === undefined) throw bad(`no key "${key}"`);
    if (kind === "file" || kind === "folder") named(key, v, kind === "folder");
    else if (kind === "files") {
      if (!Array.isArray(v) || v.length === 0) throw bad(`${key} must be a non-empty list of paths under results/`);
      v.forEach((p, i) => named(`${key}[${i}]`, p));
      const twice = v.find((p, i) => v.indexOf(p) !== i);
      if (twice !== undefined) throw bad(`${key} names ${twice} twice`);
    } else {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw bad(`${key} must be an object naming the runs of ${NOTEBOOK_ORDER.join(", ")}`);
      }
      const names = v as Record<string, unknown>;
      const extra = Object.keys(names).find((n) => !NOTEBOOK_ORDER.includes(n));
      if (extra !== undefined) throw bad(`${key}.${extra} is not one of ${NOTEBOOK_ORDER.join(", ")}`);
      for (const n of NOTEBOOK_ORDER) {
        if (names[n] === undefined) throw bad(`no key ${key}.${n}`);
        named(`${key}.${n}`, names[n]);
      }
    }
  }
  return m as unknown as Manifest;
}
