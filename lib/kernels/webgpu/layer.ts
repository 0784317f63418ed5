/**
 * The fused sequence kernels of `../cpu/layer.ts` as WebGPU compute programs, run on
 * tfjs-backend-webgpu's own tensors: the whole T-step recurrence of one layer
 * is one dispatch forward and one backward, with replicas x batch rows as the
 * parallel dimension. A workgroup holds `GROUP_ROWS` rows of `H` threads,
 * thread j owns hidden unit j of its row, and h (backward: the gate gradients)
 * passes between steps through workgroup memory (`hShared`, `dShared`); c and
 * the running gradients stay in registers. Parameters, optimizer moments and
 * the state never leave the GPU.
 *
 * Same inputs, output and equations (PyTorch's, gate orders i,f,g,o and
 * r,z,n) as `cpuLayer`: `xp` `[S, B, T, G]` the input projection, `h0` (and
 * `c0`) `[S, B, H]`, `whh` `[S, G, H]`, `bhh` `[S, G]`; output `[S, B, T, H]`
 * (LSTM `[S, B, T, 2H]`, h then c). Arithmetic is float32 throughout.
 *
 * Not the optimizer (`update.ts`) nor the buffer limits (`limits.ts`).
 */
import { tf } from "../../tf.ts";
import type { CellKind } from "../../cells.ts";
import type { LayerDims as Dims, LayerInput, LayerOutput } from "../kernel.ts";
import { runProgram, type WebGpuProgram } from "./program.ts";
import { splitLayerOutput } from "../layer_output.ts";

/** The largest H the kernels take: one thread per hidden unit, 256 threads per workgroup (WebGPU's default limit). */
export const WEBGPU_MAX_HIDDEN = 256;

/** Values per step the forward keeps for the backward: rnn h; lstm h, c, i, f, g, o; gru h, r, z, n, W_hn h + b_hn. */
const TAPE: Record<CellKind, number> = { rnn: 1, irnn: 1, lstm: 6, gru: 5 };

/** Rows of H threads per workgroup: about 64 threads, so small H still fills a GPU's SIMD groups. */
function rowsPerGroup(H: number): number {
  return Math.max(1, Math.floor(64 / H));
}

/** Constants, activations, and the thread's row and unit, shared by both programs. */
function prelude(cell: CellKind, dims: Dims, extra: string): string {
  return `
const B = ${dims.B}; const T = ${dims.T}; const H = ${dims.H}; const G = ${dims.G};
const GROUP_ROWS = ${rowsPerGroup(dims.H)}; // rows of H threads per workgroup
const TAPE_W = ${TAPE[cell] * dims.H}; // floats the forward keeps per row and step
${extra}
// sigmoid and tanh from exp(-|x|), which cannot overflow (WGSL leaves exp's overflow undefined; some drivers' tanh
// returns NaN for large |x|).
fn sigm(x: f32) -> f32 { let e = exp(-abs(x)); return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0); }
fn tanhf(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); let t = (1.0 - e) / (1.0 + e); return select(-t, t, x >= 0.0); }
// A thread's place: its row within the workgroup, its hidden unit j, its row of [S * B] and that row's replica s.
struct Lane { groupRow: i32, j: i32, row: i32, s: i32, valid: bool };
// Replicas x batch rows, from the output's shape [S, B, ...]. (tfjs binds the uniforms only where a shader reads them.)
// Workgroups may be laid out in 2 or 3 dimensions when there are more than 65535.
fn thisLane() -> Lane {
  let rows = uniforms.outShape[0] * uniforms.outShape[1];
  let wg = i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
  let li = i32(localIndex);
  let groupRow = li / H;
  let row = wg * GROUP_ROWS + groupRow;
  let clamped = min(row, rows - 1); // spare threads compute the last row again and write nothing
  return Lane(groupRow, li % H, clamped, clamped / B, row < rows);
}
`;
}

function forwardCode(cell: CellKind, dims: Dims): string {
  const gates = dims.G / dims.H;
  // rec k: gate k's recurrent term at unit j, (h W_hh^T + b_hh)[k * H + j].
  const recInit = Array.from({ length: gates }, (_, k) => `var rec${k} = bhh[s * G + ${k} * H + j];`).join("\n    ");
  const recMac = Array.from({ length: gates }, (_, k) => `rec${k} += whh[(s * G + ${k} * H + j) * H + m] * hm;`)
    .join("\n      ");
  const step: Record<CellKind, string> = {
    rnn: `let h = max(xp[xpAt + j] + rec0, 0.0);
    taped[0] = h;`,
    irnn: "",
    lstm: `let inGate = sigm(xp[xpAt + j] + rec0);
    let forget = sigm(xp[xpAt + H + j] + rec1);
    let candidate = tanhf(xp[xpAt + 2 * H + j] + rec2);
    let outGate = sigm(xp[xpAt + 3 * H + j] + rec3);
    cell = forget * cell + inGate * candidate;
    let h = outGate * tanhf(cell);
    taped = array<f32, 6>(h, cell, inGate, forget, candidate, outGate);`,
    gru: `let reset = sigm(xp[xpAt + j] + rec0);
    let update = sigm(xp[xpAt + H + j] + rec1);
    let hn = rec2; // W_hn h + b_hn
    let candidate = tanhf(xp[xpAt + 2 * H + j] + reset * hn);
    let h = (1.0 - update) * candidate + update * hShared[lane.groupRow * H + j];
    taped = array<f32, 5>(h, reset, update, candidate, hn);`,
  };
  step.irnn = step.rnn;
  const parts = TAPE[cell];
  return `${
    prelude(cell, dims, `var<workgroup> hShared: array<f32, ${rowsPerGroup(dims.H) * dims.H}>; // h of each row`)
  }
fn main(index: i32) {
  let lane = thisLane();
  let j = lane.j; let s = lane.s; let row = lane.row;
  hShared[lane.groupRow * H + j] = h0[row * H + j];
  var cell = ${cell === "lstm" ? "c0[row * H + j]" : "0.0"};
  var taped: array<f32, ${parts}>; // this step's values for the tape
  for (var t = 0; t < T; t++) {
    workgroupBarrier();
    let xpAt = (row * T + t) * G;
    ${recInit}
    for (var m = 0; m < H; m++) {
      let hm = hShared[lane.groupRow * H + m];
      ${recMac}
    }
    ${step[cell]}
    workgroupBarrier();
    hShared[lane.groupRow * H + j] = h;
    if (lane.valid) {
      for (var k = 0; k < ${parts}; k++) { result[(row * T + t) * TAPE_W + k * H + j] = taped[k]; }
    }
  }
}
`;
}

/** Gate-gradient columns per step in the backward's output: G, and for GRU one more block (d(n) r, for W_hn). */
function gradWidth(cell: CellKind, dims: Dims): number {
  return cell === "gru" ? dims.G + dims.H : dims.G;
}

function backwardCode(cell: CellKind, dims: Dims): string {
  const gradW = gradWidth(cell, dims), dyW = cell === "lstm" ? 2 * dims.H : dims.H;
  const step: Record<CellKind, string> = {
    rnn: `let dhStep = dh + dy[dyAt + j];
    let dPre = select(0.0, dhStep, tape[tapeAt + j] > 0.0);
    dShared[lane.groupRow * G + j] = dPre;
    grads[0] = dPre;`,
    irnn: "",
    lstm: `let dhStep = dh + dy[dyAt + j];
    let cell = tape[tapeAt + H + j];
    let inGate = tape[tapeAt + 2 * H + j]; let forget = tape[tapeAt + 3 * H + j];
    let candidate = tape[tapeAt + 4 * H + j]; let outGate = tape[tapeAt + 5 * H + j];
    let tanhCell = tanhf(cell);
    let cellPrev = select(c0[row * H + j], tape[max(tapeAt - TAPE_W, 0) + H + j], t > 0);
    let dcStep = dc + dy[dyAt + H + j] + dhStep * outGate * (1.0 - tanhCell * tanhCell);
    grads = array<f32, 4>(dcStep * candidate * inGate * (1.0 - inGate), dcStep * cellPrev * forget * (1.0 - forget),
                          dcStep * inGate * (1.0 - candidate * candidate),
                          dhStep * tanhCell * outGate * (1.0 - outGate));
    for (var k = 0; k < 4; k++) { dShared[lane.groupRow * G + k * H + j] = grads[k]; }
    dc = dcStep * forget;`,
    gru: `let dhStep = dh + dy[dyAt + j];
    let reset = tape[tapeAt + H + j]; let update = tape[tapeAt + 2 * H + j];
    let candidate = tape[tapeAt + 3 * H + j]; let hn = tape[tapeAt + 4 * H + j];
    let hPrev = select(h0[row * H + j], tape[max(tapeAt - TAPE_W, 0) + j], t > 0);
    let dCandidate = dhStep * (1.0 - update) * (1.0 - candidate * candidate);
    let dReset = dCandidate * hn * reset * (1.0 - reset);
    grads = array<f32, 4>(dReset, dhStep * (hPrev - candidate) * update * (1.0 - update), dCandidate,
                          dCandidate * reset);
    dShared[lane.groupRow * G + j] = grads[0];
    dShared[lane.groupRow * G + H + j] = grads[1];
    dShared[lane.groupRow * G + 2 * H + j] = grads[3];
    dhThroughUpdate = dhStep * update;`,
  };
  step.irnn = step.rnn;
  return `${
    prelude(
      cell,
      dims,
      `const GRAD_W = ${gradW}; const DY_W = ${dyW}; // floats per row and step of the gate gradients and of dy
var<workgroup> dShared: array<f32, ${rowsPerGroup(dims.H) * dims.G}>; // each row's gate gradients (W_hh's side)`,
    )
  }
fn main(index: i32) {
  let lane = thisLane();
  let j = lane.j; let s = lane.s; let row = lane.row;
  var dh = 0.0; // the gradient reaching this step's h from the later steps
  var dc = 0.0; // LSTM: the same for c
  var dhThroughUpdate = 0.0; // GRU: the part of dh that flows through z h, not W_hh
  var grads: array<f32, ${gradW / dims.H}>;
  let resultAt = row * (T * GRAD_W + 2 * H);
  for (var u = 0; u < T; u++) {
    let t = T - 1 - u;
    let tapeAt = (row * T + t) * TAPE_W;
    let dyAt = (row * T + t) * DY_W;
    ${step[cell]}
    if (lane.valid) {
      for (var k = 0; k < GRAD_W / H; k++) { result[resultAt + t * GRAD_W + k * H + j] = grads[k]; }
    }
    workgroupBarrier();
    var dhPrev = dhThroughUpdate;
    for (var gate = 0; gate < G; gate++) { dhPrev += dShared[lane.groupRow * G + gate] * whh[(s * G + gate) * H + j]; }
    dh = dhPrev;
    workgroupBarrier();
  }
  if (lane.valid) {
    result[resultAt + T * GRAD_W + j] = dh;
    result[resultAt + T * GRAD_W + H + j] = dc;
  }
}
`;
}

function program(
  name: string,
  cell: CellKind,
  dims: Dims,
  outputShape: number[],
  variableNames: string[],
  code: string,
): WebGpuProgram {
  const groupRows = rowsPerGroup(dims.H);
  return {
    outputShape,
    shaderKey: `echolab_${name}_${cell}_${dims.S}_${dims.B}_${dims.T}_${dims.H}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil((dims.S * dims.B) / groupRows), 1, 1],
    workgroupSize: [groupRows * dims.H, 1, 1],
    variableNames,
    getUserCode: () => code,
  };
}

/**
 * One recurrent layer over the whole sequence as a single op with its
 * gradient, on the webgpu backend (see {@linkcode LayerInput}).
 */
export function webgpuLayer({ cell, xp, h0, c0, whh, bhh }: LayerInput): LayerOutput {
  const [S, B, T, G] = xp.shape;
  const H = whh.shape[2];
  if (H > WEBGPU_MAX_HIDDEN) {
    throw new Error(`the fused WebGPU kernels take hidden sizes up to ${WEBGPU_MAX_HIDDEN}, not ${H}; use --kernel op`);
  }
  const dims: Dims = { S, B, T, H, G };
  const lstm = cell === "lstm", tapeWidth = TAPE[cell] * H, outWidth = lstm ? 2 * H : H;
  const op = tf.customGrad((...args: (tf.Tensor | ((s: tf.Tensor[]) => void))[]) => {
    const save = args.pop() as (s: tf.Tensor[]) => void;
    const [x, h, ...rest] = args as tf.Tensor[];
    const [c, w, b] = lstm ? rest : [h, ...rest];
    const [names, inputs] = lstm
      ? [["xp", "h0", "c0", "whh", "bhh"], [x, h, c, w, b]]
      : [["xp", "h0", "whh", "bhh"], [x, h, w, b]];
    const tape = runProgram(program("fwd", cell, dims, [S, B, T, tapeWidth], names, forwardCode(cell, dims)), inputs);
    save([tape, h, c, w]);
    const value = tf.slice(tape, [0, 0, 0, 0], [S, B, T, outWidth]) as tf.Tensor4D;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [tapeSaved, h0Saved, c0Saved, whhSaved] = saved;
      const gradW = gradWidth(cell, dims);
      // A program binds only the inputs its code reads: rnn's backward needs no h0, LSTM's no h0 but c0, GRU's h0.
      const [names, inputs] = lstm
        ? [["dy", "tape", "c0", "whh"], [dy, tapeSaved, c0Saved, whhSaved]]
        : cell === "gru"
        ? [["dy", "tape", "h0", "whh"], [dy, tapeSaved, h0Saved, whhSaved]]
        : [["dy", "tape", "whh"], [dy, tapeSaved, whhSaved]];
      const result = runProgram(
        program("bwd", cell, dims, [S, B, T * gradW + 2 * H], names, backwardCode(cell, dims)),
        inputs,
      );
      const dGates = tf.reshape(tf.slice(result, [0, 0, 0], [S, B, T * gradW]), [S, B, T, gradW]);
      const dxp = gradW === G ? dGates : tf.slice(dGates, [0, 0, 0, 0], [S, B, T, G]);
      // The gradient of W_hh and b_hh per gate; GRU's n gate sees W_hn h through r.
      const dGatesHh = cell === "gru"
        ? tf.concat(
          [tf.slice(dGates, [0, 0, 0, 0], [S, B, T, 2 * H]), tf.slice(dGates, [0, 0, 0, 3 * H], [S, B, T, H])],
          3,
        )
        : dGates;
      const prevH = T === 1
        ? tf.reshape(h0Saved, [S, B, 1, H])
        : tf.concat([tf.reshape(h0Saved, [S, B, 1, H]), tf.slice(tapeSaved, [0, 0, 0, 0], [S, B, T - 1, H])], 2);
      const dGatesFlat = tf.reshape(dGatesHh, [S, B * T, G]) as tf.Tensor3D;
      const dW = tf.matMul(dGatesFlat, tf.reshape(prevH, [S, B * T, H]) as tf.Tensor3D, true, false);
      const db = tf.sum(dGatesFlat, 1);
      const dh0 = tf.reshape(tf.slice(result, [0, 0, T * gradW], [S, B, H]), [S, B, H]);
      const dc0 = tf.reshape(tf.slice(result, [0, 0, T * gradW + H], [S, B, H]), [S, B, H]);
      return [dxp, dh0, ...(lstm ? [dc0] : []), dW, db];
    };
    return { value, gradFunc };
  });
  const inputs = lstm ? [xp, h0, c0!, whh, bhh] : [xp, h0, whh, bhh];
  return splitLayerOutput((op as (...t: tf.Tensor[]) => tf.Tensor4D)(...inputs), H, lstm);
}
