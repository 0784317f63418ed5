/**
 * The sizes of the fused WebGPU training step (`step.ts`): where each value
 * lives in the buffers its two programs bind, and how many replicas one tile
 * takes so that no binding passes the adapter's limits. Pure arithmetic, no
 * tfjs and no device: `planStep` answers for any limits, so a test can size
 * 16,384 replicas against a 128 MiB binding limit without allocating.
 *
 * A tile is as many replicas as every binding of both programs holds. The
 * model's variables, the optimizer's moments, the state and the chunk stay
 * whole tfjs tensors (each within `maxBufferSize`, never bound by a program of
 * the step: they are copied into and out of the tile's buffers), so only the
 * per-tile buffers meet `maxStorageBufferBindingSize`.
 *
 * Not the WGSL (`step_wgsl.ts`) nor running it (`step.ts`).
 */
import { type CellKind, GATES } from "../../cells.ts";

/** The largest hidden size the fused step takes: one thread per hidden unit in workgroups of {@linkcode STEP_THREADS}. */
export const STEP_MAX_HIDDEN = 64;

/** Threads per workgroup of both programs. */
export const STEP_THREADS = 64;

/** Values per step the forward keeps for the backward: rnn h; lstm h, c, i, f, g, o; gru h, r, z, n, W_hn h + b_hn. */
export const STEP_TAPE: Record<CellKind, number> = { rnn: 1, irnn: 1, lstm: 6, gru: 5 };

/** What sets the step's sizes. */
export interface StepDims {
  cell: CellKind;
  hidden: number;
  layers: number;
  /** Features per input step (`SimpleRNN.inputSize`, 1 for the echo task). */
  inputSize: number;
  batch: number;
  bptt: number;
  replicas: number;
  /** Adam keeps two moments per parameter, RMSprop one. */
  adam: boolean;
  /** Debug mode: the applied (clipped) gradients get a buffer of their own. */
  debug?: boolean;
}

/** The adapter limits the plan meets (a `GPUDevice`'s `limits` has them all). */
export interface StepLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
  /**
   * The most floats of W_hh to put in workgroup memory (default: as many as
   * fit). WebGPU zero-fills workgroup memory, and llvmpipe's LLVM compiles
   * that fill element by element: measured here, a 1,024-float W_hh makes a
   * pipeline compile for 6 to 8 s and H 60's 3,600 for a minute, so a
   * software adapter takes W_hh there only when tiny (`step.ts`).
   */
  maxSharedWhhFloats?: number;
}

/** The buffers the step binds, per tile. */
export const STEP_BUFFERS = ["params", "moments", "grads", "applied", "small", "data", "state", "work"] as const;
export type StepBuffer = typeof STEP_BUFFERS[number];

/** One parameter of the model, in `SimpleRNN.variables` order: its floats per replica and where it starts in a packed buffer. */
export interface ParamRegion {
  name: string;
  /** Floats per replica. */
  size: number;
  /** Floats of one replica's parameters before this one (the packed buffer's region starts at tile x prefix). */
  prefix: number;
}

/** The fused step's plan for a model and chunk. */
export interface StepPlan {
  dims: StepDims;
  /** Gate rows G = gates x H, and the gradient columns per row and step (GRU: G + H, its n gate seen two ways). */
  G: number;
  GW: number;
  /** Floats per step the forward tapes (STEP_TAPE x H). */
  TW: number;
  /** State tensors: h of each layer, then (LSTM) c of each layer. */
  nState: number;
  params: ParamRegion[];
  /** Parameters per replica. */
  paramFloats: number;
  /** Floats per replica of the work buffer: tape of every layer, gate gradients, input gradients, dz. */
  workFloats: number;
  /** Bytes per replica of each binding. */
  perReplica: Record<StepBuffer, number>;
  /** Replicas per tile, and tiles. */
  tile: number;
  tiles: number;
  /** Rows of H threads per workgroup. */
  rowGroups: number;
  /** Whether W_hh goes into workgroup memory (it fits the adapter's limit). */
  sharedWhh: boolean;
  /** Bytes of each whole tensor the step copies from and to (largest first); each must be within `maxBufferSize`. */
  largestTensor: number;
}

/** The model's parameters in `SimpleRNN.variables` order (PyTorch's names), floats per replica. */
export function paramRegions(cell: CellKind, hidden: number, layers: number, inputSize: number): ParamRegion[] {
  const G = GATES[cell] * hidden;
  const sizes: [string, number][] = [];
  for (let l = 0; l < layers; l++) {
    const K = l === 0 ? inputSize : hidden;
    sizes.push(
      [`rnn.weight_ih_l${l}`, G * K],
      [`rnn.weight_hh_l${l}`, G * hidden],
      [`rnn.bias_ih_l${l}`, G],
      [`rnn.bias_hh_l${l}`, G],
    );
  }
  sizes.push(["linear.weight", hidden], ["linear.bias", 1]);
  let prefix = 0;
  return sizes.map(([name, size]) => {
    const r = { name, size, prefix };
    prefix += size;
    return r;
  });
}

/** Why the fused step cannot run these sizes, or null where it can (see {@linkcode planStep}). */
export function stepRefusal(d: StepDims, limits: StepLimits): string | null {
  const plan = tryPlan(d, limits);
  return typeof plan === "string" ? plan : null;
}

/**
 * The plan for `d` within `limits`: tiles of as many replicas as every
 * binding holds (and at most `maxComputeWorkgroupsPerDimension`, one
 * workgroup per replica). Throws a RangeError naming the reason where no
 * plan exists (H past {@linkcode STEP_MAX_HIDDEN}, one replica past a
 * binding, a whole tensor past `maxBufferSize`).
 */
export function planStep(d: StepDims, limits: StepLimits): StepPlan {
  const plan = tryPlan(d, limits);
  if (typeof plan === "string") throw new RangeError(plan);
  return plan;
}

function tryPlan(d: StepDims, limits: StepLimits): StepPlan | string {
  const { cell, hidden: H, layers: L, inputSize: K0, batch: B, bptt: T, replicas: S } = d;
  if (H > STEP_MAX_HIDDEN) return `the fused WebGPU step takes hidden sizes up to ${STEP_MAX_HIDDEN}, not ${H}`;
  if (H < 1 || L < 1 || K0 < 1 || B < 1 || T < 1 || S < 1) return `the fused WebGPU step needs positive sizes`;
  const G = GATES[cell] * H, GW = cell === "gru" ? G + H : G, TW = STEP_TAPE[cell] * H;
  const nState = cell === "lstm" ? 2 * L : L;
  const params = paramRegions(cell, H, L, K0);
  const paramFloats = params.reduce((n, p) => n + p.size, 0);
  const BT = B * T;
  const workFloats = L * BT * TW + BT * GW + BT * H + BT;
  const perReplica: Record<StepBuffer, number> = {
    params: 4 * paramFloats,
    moments: 4 * paramFloats * (d.adam ? 2 : 1),
    grads: 4 * paramFloats,
    applied: d.debug ? 4 * paramFloats : 0,
    small: 4 * 4,
    data: 4 * BT * (K0 + 1),
    state: 4 * 2 * nState * B * H,
    work: 4 * workFloats,
  };
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  let tile = Math.min(S, limits.maxComputeWorkgroupsPerDimension);
  for (const b of STEP_BUFFERS) {
    if (perReplica[b] === 0) continue;
    const fit = Math.floor(binding / perReplica[b]);
    if (fit < 1) {
      return `one replica's ${b} buffer (${perReplica[b]} bytes) passes this adapter's binding limit (${binding})`;
    }
    tile = Math.min(tile, fit);
  }
  // The whole tensors the step copies from and to: a parameter (or its moment), the state, x and y.
  const largestTensor = 4 * S * Math.max(...params.map((p) => p.size), B * H, BT * K0);
  if (largestTensor > limits.maxBufferSize) {
    return `${S} replicas need a ${largestTensor}-byte tensor, past this adapter's maxBufferSize (${limits.maxBufferSize})`;
  }
  const rowGroups = Math.max(1, Math.floor(STEP_THREADS / H));
  // Workgroup memory besides W_hh: h of each row group, its gate gradients, two reductions.
  const fixed = 4 * (rowGroups * H + rowGroups * G + 2 * STEP_THREADS);
  const sharedWhh = fixed + 4 * G * H <= limits.maxComputeWorkgroupStorageSize &&
    G * H <= (limits.maxSharedWhhFloats ?? Infinity);
  return {
    dims: d,
    G,
    GW,
    TW,
    nState,
    params,
    paramFloats,
    workFloats,
    perReplica,
    tile,
    tiles: Math.ceil(S / tile),
    rowGroups,
    sharedWhh,
    largestTensor,
  };
}
