import { tf } from "./tf.ts";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/** Backends a user can name with `--backend`. */
export const BACKENDS = ["auto", "cpu", "wasm", "node", "node-gpu"] as const;
export type BackendName = typeof BACKENDS[number];

/**
 * The pure backend `auto` falls back to. Measured with `deno task bench` on
 * 2 cores (README, Performance): `wasm` is 1.2x faster than `cpu` per step
 * for echo3 with one replica, 3x for echo10-h60, and 6-8x with 64 replicas,
 * because its kernels run in WebAssembly while `cpu` loops in JavaScript.
 */
export const PURE_FALLBACK = "wasm";

/** What {@linkcode useBackend} chose and why others were skipped. */
export interface BackendChoice {
  name: string;
  skipped: string[];
}

const WASM_DIR = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);

async function loadNative(pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): Promise<string> {
  // A variable specifier keeps the import dynamic: these packages are not
  // dependencies of the suite and their binding cannot be built here.
  const spec: string = pkg;
  await import(spec);
  await tf.setBackend("tensorflow");
  await tf.ready();
  return "tensorflow";
}

async function loadPure(name: "cpu" | "wasm"): Promise<string> {
  if (name === "wasm") setWasmPaths(WASM_DIR.pathname); // a directory URL: it ends in "/"
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise the ${name} backend`);
  await tf.ready();
  return name;
}

function firstLine(err: unknown): string {
  if (/not a dependency|not in import map|Cannot find module/.test(String(err))) return "not installed";
  return String(err instanceof Error ? err.message : err).split("\n")[0].slice(0, 160);
}

/**
 * Makes `name` the active tfjs backend. `auto` tries tfjs-node-gpu, then
 * tfjs-node, then {@linkcode PURE_FALLBACK}; a forced name fails with an
 * error naming what went wrong.
 */
export async function useBackend(name: BackendName): Promise<BackendChoice> {
  const skipped: string[] = [];
  if (name === "auto") {
    for (
      const [label, pkg] of [["node-gpu", "@tensorflow/tfjs-node-gpu"], ["node", "@tensorflow/tfjs-node"]] as const
    ) {
      try {
        return { name: `${label} (${await loadNative(pkg)})`, skipped };
      } catch (err) {
        skipped.push(`${label}: ${firstLine(err)}`);
      }
    }
    return { name: await loadPure(PURE_FALLBACK), skipped };
  }
  try {
    if (name === "cpu" || name === "wasm") return { name: await loadPure(name), skipped };
    const pkg = name === "node-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
    return { name: `${name} (${await loadNative(pkg)})`, skipped };
  } catch (err) {
    throw new Error(`--backend ${name} could not be loaded: ${firstLine(err)} (see README, Backends)`);
  }
}

/** The one line a script prints about its backend. */
export function describeBackend(choice: BackendChoice): string {
  const why = choice.skipped.length ? ` (skipped ${choice.skipped.join("; ")})` : "";
  return `backend: ${choice.name}${why}`;
}
