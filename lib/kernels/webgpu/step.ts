/**
 * The WebGPU family's training step by design (issue 17, part 2): for each
 * tile of replicas, two compute dispatches of the suite's own WGSL
 * (`step_wgsl.ts`), no tfjs op, where `autogradStep` around the WGSL layers
 * issues some 70 to 130 small dispatches.
 *
 * 1. `gradients`: one workgroup per replica runs every layer's forward over
 *    the chunk, the head, the loss and the right digits, BPTT, each
 *    parameter's gradient and clip_grad_norm_'s coefficient.
 * 2. `update` (after `StepInput.live` has judged the loss, with the tally's
 *    own tfjs ops): the clip, the alive mask and RMSprop or Adam.
 *
 * The model's variables, the optimizer's moments, the state and the chunk
 * stay ordinary tfjs tensors. Each step copies a tile's share of them into
 * packed buffers its programs bind (`copyBufferToBuffer`, no dispatch) and
 * the results into fresh tensors the variables take (`assign`), so nothing a
 * caller holds is written in place and no whole tensor is ever bound: only
 * the tile's buffers meet the binding limit (`step_plan.ts`). Commands go
 * into tfjs-webgpu's own command encoder, in order with its kernels, and are
 * submitted at the end of the step; buffers come from its buffer manager as
 * tensors, freed (after submission) when the step ends.
 *
 * Where it does not run (a model that does not say its shape, H past
 * `STEP_MAX_HIDDEN`, an optimizer of another family, sizes no tile fits),
 * the step is `autogradStep`'s. Not the layers and optimizer that path runs
 * (`layer.ts`, `update.ts`).
 */
import { tf } from "../../tf.ts";
import type { CellKind } from "../../cells.ts";
import type { StepInput, StepModel, StepOptimizer, StepOutput } from "../kernel.ts";
import { autogradStep } from "../op/step.ts";
import { type CapturedUpdate, captureUpdate } from "./update.ts";
import { planStep, STEP_MAX_HIDDEN, type StepDims, type StepLimits, type StepPlan, stepRefusal } from "./step_plan.ts";
import { gradientsWgsl, ruleUniforms, updateWgsl } from "./step_wgsl.ts";

/** The parts of tfjs-backend-webgpu 4.22's `WebGPUBackend` the step records into (some private in its types). */
interface Backend {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { resource?: GPUBuffer | null } };
  commandEncoder: GPUCommandEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: "float32"): tf.TensorInfo;
  makeUniforms(uniforms: { type: string; data: number[] }[]): GPUBufferBinding;
}

/** What the step has done since {@linkcode resetStepCounts}: steps, dispatches, buffer copies, host milliseconds. */
export interface StepCounts {
  steps: number;
  dispatches: number;
  copies: number;
  /** JavaScript time inside the fused step (encoding and submitting; with the tally's `live`), summed. */
  hostMs: number;
  /** Tiles of the last step. */
  tiles: number;
}

const counts: StepCounts = { steps: 0, dispatches: 0, copies: 0, hostMs: 0, tiles: 0 };

/** The fused step's running counts (see {@linkcode StepCounts}). */
export function stepCounts(): StepCounts {
  return { ...counts };
}

/** Zeroes the counts. */
export function resetStepCounts(): void {
  Object.assign(counts, { steps: 0, dispatches: 0, copies: 0, hostMs: 0, tiles: 0 });
}

function activeBackend(): Backend | null {
  const b = tf.backend() as unknown as Partial<Backend>;
  return b.device && typeof b.makeUniforms === "function" && typeof b.uploadToGPU === "function" ? b as Backend : null;
}

/** W_hh floats a software adapter takes in workgroup memory (see `StepLimits.maxSharedWhhFloats`): rnn H 8, lstm H 4. */
export const SOFTWARE_SHARED_WHH = 64;

/** Whether the device's adapter runs shaders on the CPU (as `lib/backend.ts` says: a fallback adapter, or named so). */
function softwareAdapter(device: GPUDevice): boolean {
  const info = (device as GPUDevice & { adapterInfo?: { isFallbackAdapter?: boolean; description?: string } })
    .adapterInfo;
  return !!info && (!!info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(info.description ?? ""));
}

/** The limits {@linkcode planStep} meets, from a device. */
export function deviceLimits(device: GPUDevice): StepLimits {
  const l = device.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxSharedWhhFloats: softwareAdapter(device) ? SOFTWARE_SHARED_WHH : undefined,
  };
}

const pipelines = new Map<string, GPUComputePipeline>();

function pipeline(device: GPUDevice, code: string): GPUComputePipeline {
  let p = pipelines.get(code);
  if (!p) {
    p = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
    });
    pipelines.set(code, p);
  }
  return p;
}

/** Records copies and dispatches into tfjs-webgpu's command encoder, in order with its own kernels. */
class Recorder {
  constructor(readonly be: Backend) {}

  buffer(t: tf.Tensor): GPUBuffer {
    this.be.uploadToGPU(t.dataId);
    // tfjs defers freeing a buffer the commands not yet submitted use.
    this.be.commandQueueOwnedIds.add(t.dataId);
    return this.be.tensorMap.get(t.dataId).resource as GPUBuffer;
  }

  /** A tensor of `floats` floats on the device, contents undefined. */
  scratch(floats: number): tf.Tensor {
    return this.tensor([Math.max(1, floats)]);
  }

  tensor(shape: number[]): tf.Tensor {
    const info = this.be.makeTensorInfo(shape, "float32");
    this.be.uploadToGPU(info.dataId);
    return tf.engine().makeTensorFromTensorInfo(info);
  }

  #encoder(): GPUCommandEncoder {
    this.be.ensureCommandEncoderReady();
    this.be.endComputePassEncoder();
    return this.be.commandEncoder!;
  }

  copy(src: tf.Tensor, srcAt: number, dst: tf.Tensor, dstAt: number, floats: number): void {
    if (floats <= 0) return;
    const [from, to] = [this.buffer(src), this.buffer(dst)];
    this.#encoder().copyBufferToBuffer(from, 4 * srcAt, to, 4 * dstAt, 4 * floats);
    counts.copies++;
  }

  clear(t: tf.Tensor, at: number, floats: number): void {
    if (floats <= 0) return;
    const buffer = this.buffer(t);
    this.#encoder().clearBuffer(buffer, 4 * at, 4 * floats);
    counts.copies++;
  }

  dispatch(code: string, buffers: (tf.Tensor | "uniforms")[], uniforms: number[], groups: number): void {
    const p = pipeline(this.be.device, code);
    const entries = buffers.map((b, binding) => ({
      binding,
      resource: b === "uniforms"
        ? this.be.makeUniforms(uniforms.map((x) => ({ type: "float32", data: [x] })))
        : { buffer: this.buffer(b) },
    }));
    const bindGroup = this.be.device.createBindGroup({ layout: p.getBindGroupLayout(0), entries });
    const pass = this.#encoder().beginComputePass();
    pass.setPipeline(p);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups);
    pass.end();
    counts.dispatches++;
  }
}

/** The model's shape where it gives it (`SimpleRNN` does), else null. */
function shapeOf(model: StepModel): { cell: CellKind; hidden: number; layers: number } | null {
  const { cell, hidden, layers } = model as StepModel & { cell?: CellKind; hidden?: number; layers?: number };
  return cell && hidden && layers ? { cell, hidden, layers } : null;
}

/** Whether the optimizer's updates run on this family (`lib/optim.ts`'s optimizers say so in `path`). */
function onThisFamily(optimizer: StepOptimizer): boolean {
  return (optimizer as StepOptimizer & { path?: string }).path === "webgpu";
}

/**
 * Why the fused step would not run a model of this shape (H past
 * {@linkcode STEP_MAX_HIDDEN}), or null where it does; for `kernelFor`'s
 * reason. Sizes past the adapter's limits are found per step.
 */
export function fusedStepRefusal(hidden: number): string | null {
  return hidden > STEP_MAX_HIDDEN ? `the fused WebGPU step takes H up to ${STEP_MAX_HIDDEN}` : null;
}

let limitsOverride: Partial<StepLimits> | null = null;

/**
 * Plans the next steps as if the adapter's limits were `limits` where given
 * (null: the adapter's own), so tests can force several tiles at small sizes.
 */
export function setStepLimits(limits: Partial<StepLimits> | null): void {
  limitsOverride = limits;
}

/** The plan of the step `webgpuStep` would run for these arguments, or why it would run `autogradStep`. */
export function stepPlanFor(model: StepModel, optimizer: StepOptimizer, input: StepInput): StepPlan | string {
  return stepPlanForShape(model, optimizer, input.x.shape, input.onGrads !== undefined);
}

/**
 * {@linkcode stepPlanFor} for a chunk of shape `[S, B, T, K0]` (`debug`: an `onGrads` hook), before any chunk
 * exists: what `epoch.ts` asks before it makes the data on the device.
 */
export function stepPlanForShape(
  model: StepModel,
  optimizer: StepOptimizer,
  [S, B, T, K0]: readonly number[],
  debug = false,
): StepPlan | string {
  const be = activeBackend();
  if (!be) return `the fused WebGPU step needs the webgpu backend, not ${tf.getBackend()}`;
  const shape = shapeOf(model);
  if (!shape) return "the model does not give its shape";
  if (!onThisFamily(optimizer)) return "the optimizer's updates are not the WebGPU family's";
  const dims: StepDims = {
    cell: shape.cell,
    hidden: shape.hidden,
    layers: shape.layers,
    inputSize: K0,
    batch: B,
    bptt: T,
    replicas: S,
    adam: (optimizer as { beta1?: number }).beta1 !== undefined,
    debug,
  };
  const limits = { ...deviceLimits(be.device), ...limitsOverride };
  return stepRefusal(dims, limits) ?? planStep(dims, limits);
}

/**
 * One training step in two WGSL dispatches per tile (see the top of this
 * file); same contract as `autogradStep`, whose results it reproduces up to
 * float32 rounding.
 */
export function webgpuStep(model: StepModel, optimizer: StepOptimizer, input: StepInput): StepOutput {
  const plan = stepPlanFor(model, optimizer, input);
  if (typeof plan === "string") return autogradStep(model, optimizer, input);
  const vars = model.variables;
  const update = captureUpdate(() => optimizer.step([]));
  if (!update || update.vars.length !== vars.length || update.vars.some((v, i) => v !== vars[i])) {
    throw new Error("webgpuStep: the optimizer's variables are not the model's");
  }
  const start = performance.now();
  const out = run(activeBackend()!, plan, vars, update, input);
  counts.hostMs += performance.now() - start;
  counts.steps++;
  counts.tiles = plan.tiles;
  return out;
}

function run(be: Backend, plan: StepPlan, vars: tf.Variable[], update: CapturedUpdate, input: StepInput): StepOutput {
  const rec = new Recorder(be);
  const { batch: B, bptt: T, hidden: H, inputSize: K0, replicas: S, debug } = plan.dims;
  const R = plan.tile, BT = B * T, PN = plan.paramFloats, nState = plan.nState;
  const moments = update.kind === "adam" ? [update.m, update.v] : [update.sq];
  const gradientsCode = gradientsWgsl(plan), updateCode = updateWgsl(plan);
  const rule = update.kind === "adam"
    ? ruleUniforms({
      clip: input.clip ?? 0,
      lr: update.rule.lr,
      a: update.rule.beta1,
      b: update.rule.beta2,
      eps: update.rule.eps,
      stepSize: update.rule.lr / update.rule.c1,
      sqrtC2: Math.sqrt(update.rule.c2),
    })
    : ruleUniforms({
      clip: input.clip ?? 0,
      lr: update.rule.lr,
      a: update.rule.alpha,
      b: 0,
      eps: update.rule.eps,
      stepSize: 0,
      sqrtC2: 1,
    });
  const scratch: tf.Tensor[] = [];
  const make = (floats: number) => {
    const t = rec.scratch(floats);
    scratch.push(t);
    return t;
  };
  // Shared by the tiles in turn: the chunk, the state in and out, the work buffer.
  const data = make(R * BT * (K0 + 1)), stateBuf = make(2 * nState * R * B * H), work = make(R * plan.workFloats);
  const tiles = Array.from({ length: plan.tiles }, (_, k) => {
    const r0 = k * R, n = Math.min(R, S - r0);
    return {
      r0,
      n,
      params: make(R * PN),
      moments: make(moments.length * R * PN),
      grads: make(R * PN),
      small: make(4 * R),
      applied: debug ? make(R * PN) : null,
    };
  });
  const whole = (shape: number[]) => rec.tensor(shape);
  const loss = whole([S]) as tf.Tensor1D, right = whole([S]) as tf.Tensor1D;
  const state = Array.from({ length: nState }, () => whole([S, B, H]) as tf.Tensor3D);
  // Phase 1: per tile, gather, the gradients program, and the loss, right digits and state out.
  for (const t of tiles) {
    plan.params.forEach((p, v) => {
      rec.copy(vars[v], t.r0 * p.size, t.params, R * p.prefix, t.n * p.size);
      moments.forEach((m, i) => rec.copy(m[v], t.r0 * p.size, t.moments, i * R * PN + R * p.prefix, t.n * p.size));
    });
    rec.copy(input.x, t.r0 * BT * K0, data, 0, t.n * BT * K0);
    rec.copy(input.y, t.r0 * BT, data, R * BT * K0, t.n * BT);
    for (let i = 0; i < nState; i++) {
      if (input.state) rec.copy(input.state[i], t.r0 * B * H, stateBuf, i * R * B * H, t.n * B * H);
      else rec.clear(stateBuf, i * R * B * H, t.n * B * H);
    }
    rec.dispatch(gradientsCode, [t.params, data, stateBuf, work, t.grads, t.small, "uniforms"], rule, t.n);
    rec.copy(t.small, 0, loss, t.r0, t.n);
    rec.copy(t.small, R, right, t.r0, t.n);
    for (let i = 0; i < nState; i++) {
      rec.copy(stateBuf, (nState + i) * R * B * H, state[i], t.r0 * B * H, t.n * B * H);
    }
  }
  // Phase 2: the tally judges the loss; per tile, the alive mask in, the update program, the results out.
  const nextVars = plan.params.map((_, v) => whole(vars[v].shape));
  const nextMoments = moments.map((m) => plan.params.map((_, v) => whole(m[v].shape)));
  tf.tidy(() => {
    const alive = input.live(loss);
    const mask = alive instanceof tf.Tensor
      ? (alive.dtype === "float32" ? alive : tf.cast(alive, "float32"))
      : tf.tensor1d(alive.map((a) => (a ? 1 : 0)));
    for (const t of tiles) rec.copy(mask, t.r0, t.small, 3 * R, t.n);
  });
  for (const t of tiles) {
    const buffers: (tf.Tensor | "uniforms")[] = [t.params, t.moments, t.grads, t.small, "uniforms"];
    rec.dispatch(updateCode, t.applied ? [...buffers, t.applied] : buffers, rule, t.n);
    plan.params.forEach((p, v) => {
      rec.copy(t.params, R * p.prefix, nextVars[v], t.r0 * p.size, t.n * p.size);
      nextMoments.forEach((m, i) => rec.copy(t.moments, i * R * PN + R * p.prefix, m[v], t.r0 * p.size, t.n * p.size));
    });
  }
  vars.forEach((v, i) => v.assign(nextVars[i]));
  moments.forEach((m, i) => m.forEach((v, k) => v.assign(nextMoments[i][k])));
  const onGrads = input.onGrads;
  if (onGrads) {
    // Inside tf.tidy, as autogradStep calls it: what the hook makes and does not keep is freed with the gradients.
    tf.tidy(() => {
      const out = (pick: (t: typeof tiles[number]) => tf.Tensor) =>
        plan.params.map((p, v) => {
          const g = whole(vars[v].shape);
          for (const t of tiles) rec.copy(pick(t), R * p.prefix, g, t.r0 * p.size, t.n * p.size);
          return g;
        });
      onGrads(out((t) => t.grads), out((t) => t.applied!), loss);
    });
  }
  tf.dispose([...scratch, ...nextVars, ...nextMoments.flat()]);
  be.submitQueue();
  return { loss, right, state };
}
