/**
 * Which tfjs backend runs, and the facts about it the rest of the suite may
 * ask: loading a backend by its `--backend` name (native ones by dynamic
 * import, wasm with its binaries, webgpu with an adapter, `auto` falling back
 * in order), describing it in one line, and whether its tensors live in CPU
 * memory. With lib/kernels/, the only code that branches on a backend's name.
 * Not the kernels that run on it (lib/kernels/).
 */
import { tf } from "./tf.ts";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/** Backends a user can name with `--backend`. */
export const BACKENDS = ["auto", "cpu", "wasm", "webgpu", "node", "node-gpu"] as const;
export type BackendName = typeof BACKENDS[number];

/** tfjs backends whose tensors live in CPU memory, where reading a tensor costs no wait on a device. */
const HOST_MEMORY_BACKENDS = new Set(["cpu", "wasm"]);

/**
 * Bytes of tensors the wasm backend may hold: its memory is one WebAssembly
 * memory of at most 4 GiB that grows by copying, so a run is refused well
 * before that (past it tfjs-wasm aborts mid-run).
 */
export const WASM_TENSOR_BUDGET = 3 * 2 ** 30;

/** Bytes of tensors the backend `name` can hold; Infinity where only the machine's memory bounds it. */
export function tensorBudget(name: string): number {
  return name === "wasm" ? WASM_TENSOR_BUDGET : Infinity;
}

/**
 * Whether the tfjs backend `name` (default: the active one) keeps tensors in
 * CPU memory: the training loop then reads its tallies every step, and the
 * CPU kernels (lib/kernels/cpu/) work on the tensors in place.
 */
export function tensorsOnHost(name: string = tf.getBackend()): boolean {
  return HOST_MEMORY_BACKENDS.has(name);
}

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

/**
 * tfjs's WebGPU backend, imported by its full specifier only when WebGPU is
 * used: importing it registers a backend tfjs would otherwise prefer, so CPU
 * runs never load it. `deno.lock` pins it, so `deno install` installs it too
 * (19 MB of node_modules) and a GPU machine without network has it.
 */
export const WEBGPU_PACKAGE = "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";

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

async function loadPure(name: "cpu" | "wasm", wasmDir = WASM_DIR.pathname): Promise<string> {
  if (name === "wasm") setWasmPaths(wasmDir.endsWith("/") ? wasmDir : `${wasmDir}/`);
  // A missing or corrupt .wasm makes tfjs print several lines of its own and return false: keep them,
  // and say the first in our one line.
  const said: string[] = [];
  const { log, warn, error } = console;
  console.log = console.warn = console.error = (...args: unknown[]) => said.push(args.map(String).join(" "));
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    if (ok) await tf.ready();
  } finally {
    Object.assign(console, { log, warn, error });
  }
  if (!ok) {
    const why = said.map((l) => l.trim()).find((l) => l !== "");
    throw new Error(`tfjs could not initialise the ${name} backend${why ? ` (${why.slice(0, 200)})` : ""}`);
  }
  for (const line of said) console.warn(line); // a backend that loaded keeps its warnings
  return name;
}

/** The WebGPU adapter this runtime offers: its description and whether it is a software (fallback) adapter. */
export interface WebGpuAdapter {
  description: string;
  software: boolean;
}

/**
 * Asks the runtime for a WebGPU adapter without loading tfjs. Returns it, or
 * the reason there is none. Mesa's llvmpipe, lavapipe and SwiftShader run
 * shaders on the CPU: they count as software even where the runtime does not
 * flag them as fallback adapters.
 */
export async function findWebGpuAdapter(): Promise<WebGpuAdapter | string> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return "this runtime has no WebGPU (navigator.gpu)";
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (err) {
    return `requestAdapter failed: ${firstLine(err)}`;
  }
  if (!adapter) return "no WebGPU adapter";
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const description = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") ||
    "unnamed adapter";
  const software = Boolean(info.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software/i.test(description);
  return { description, software };
}

/** The label a WebGPU choice carries everywhere (console, CSV, bench rows): the adapter, and "software" where it is. */
export function webgpuLabel(adapter: WebGpuAdapter): string {
  return `webgpu (${adapter.description}${adapter.software ? ", software" : ""})`;
}

async function loadWebGpu(hardwareOnly: boolean): Promise<string> {
  const adapter = await findWebGpuAdapter();
  if (typeof adapter === "string") throw new Error(adapter);
  if (hardwareOnly && adapter.software) {
    throw new Error(`software adapter ${adapter.description} (name --backend webgpu to use it)`);
  }
  const spec: string = WEBGPU_PACKAGE;
  await import(spec);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs could not initialise the webgpu backend");
  await tf.ready();
  return webgpuLabel(adapter);
}

function firstLine(err: unknown): string {
  if (/not a dependency|not in import map|Cannot find module/.test(String(err))) return "not installed";
  return String(err instanceof Error ? err.message : err).split("\n")[0].slice(0, 160);
}

/** Options of {@linkcode useBackend}. */
export interface UseBackendOptions {
  /**
   * The folder of tfjs-backend-wasm's `.wasm` files.
   * @default the installed package's dist/ folder
   */
  wasmDir?: string;
}

/**
 * Makes `name` the active tfjs backend. `auto` tries tfjs-node-gpu, then
 * WebGPU on a hardware adapter (a software adapter such as llvmpipe is
 * skipped: it proves the GPU code right but is slower than wasm), then
 * tfjs-node, then {@linkcode PURE_FALLBACK}, then cpu (a missing or corrupt
 * `.wasm` is skipped with its reason); a forced name fails with an
 * error naming what went wrong. `webgpu` named takes any adapter.
 */
export async function useBackend(name: BackendName, opts: UseBackendOptions = {}): Promise<BackendChoice> {
  const skipped: string[] = [];
  if (name === "auto") {
    const order: [string, () => Promise<string>][] = [
      ["node-gpu", async () => `node-gpu (${await loadNative("@tensorflow/tfjs-node-gpu")})`],
      ["webgpu", () => loadWebGpu(true)],
      ["node", async () => `node (${await loadNative("@tensorflow/tfjs-node")})`],
    ];
    for (const [label, load] of order) {
      try {
        return { name: await load(), skipped };
      } catch (err) {
        skipped.push(`${label}: ${firstLine(err)}`);
      }
    }
    try {
      return { name: await loadPure(PURE_FALLBACK, opts.wasmDir), skipped };
    } catch (err) {
      skipped.push(`${PURE_FALLBACK}: ${firstLine(err)}`);
    }
    return { name: await loadPure("cpu"), skipped };
  }
  try {
    if (name === "cpu" || name === "wasm") return { name: await loadPure(name, opts.wasmDir), skipped };
    if (name === "webgpu") return { name: await loadWebGpu(false), skipped };
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
