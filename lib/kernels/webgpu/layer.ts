/**
 * The fused sequence kernels of `../cpu/layer.ts` as WebGPU compute programs, run on
 * tfjs-backend-webgpu's own tensors: the whole T-step recurrence of one layer
 * is one dispatch forward and one backward, with replicas x batch rows as the
 * parallel dimension. A workgroup holds `R` rows of `H` threads, thread j owns
 * hidden unit j of its row, and h (backward: the gate gradients) passes
 * between steps through workgroup memory; c and the running gradients stay in
 * registers. Parameters, optimizer moments and the state never leave the GPU.
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
function prelude(cell: CellKind, d: Dims, extra: string): string {
  const R = rowsPerGroup(d.H);
  return `
const B = ${d.B}; const T = ${d.T}; const H = ${d.H}; const G = ${d.G}; const R = ${R};
const K = ${TAPE[cell] * d.H};
${extra}
// sigmoid and tanh from exp(-|x|), which cannot overflow (WGSL leaves exp's overflow undefined; some drivers' tanh
// returns NaN for large |x|).
fn sigm(x: f32) -> f32 { let e = exp(-abs(x)); return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0); }
fn tanhf(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); let t = (1.0 - e) / (1.0 + e); return select(-t, t, x >= 0.0); }
struct Lane { r: i32, j: i32, row: i32, s: i32, valid: bool };
// Replicas x batch rows, from the output's shape [S, B, ...]. (tfjs binds the uniforms only where a shader reads them.)
// Workgroups may be laid out in 2 or 3 dimensions when there are more than 65535.
fn lane() -> Lane {
  let ROWS = uniforms.outShape[0] * uniforms.outShape[1];
  let wg = i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
  let li = i32(localIndex);
  let r = li / H;
  let row = wg * R + r;
  let clamped = min(row, ROWS - 1); // spare threads compute the last row again and write nothing
  return Lane(r, li % H, clamped, clamped / B, row < ROWS);
}
`;
}

function forwardCode(cell: CellKind, d: Dims): string {
  const gates = d.G / d.H;
  const acc = Array.from({ length: gates }, (_, k) => `var a${k} = bhh[s * G + ${k} * H + j];`).join("\n    ");
  const mac = Array.from({ length: gates }, (_, k) => `a${k} += whh[(s * G + ${k} * H + j) * H + m] * hm;`)
    .join("\n      ");
  const step: Record<CellKind, string> = {
    rnn: `let h = max(xp[xo + j] + a0, 0.0);
    out[0] = h;`,
    irnn: "",
    lstm: `let i = sigm(xp[xo + j] + a0);
    let f = sigm(xp[xo + H + j] + a1);
    let g = tanhf(xp[xo + 2 * H + j] + a2);
    let o = sigm(xp[xo + 3 * H + j] + a3);
    c = f * c + i * g;
    let h = o * tanhf(c);
    out = array<f32, 6>(h, c, i, f, g, o);`,
    gru: `let rg = sigm(xp[xo + j] + a0);
    let z = sigm(xp[xo + H + j] + a1);
    let n = tanhf(xp[xo + 2 * H + j] + rg * a2);
    let h = (1.0 - z) * n + z * hs[L.r * H + L.j];
    out = array<f32, 5>(h, rg, z, n, a2);`,
  };
  step.irnn = step.rnn;
  const parts = TAPE[cell];
  return `${prelude(cell, d, `var<workgroup> hs: array<f32, ${rowsPerGroup(d.H) * d.H}>;`)}
fn main(index: i32) {
  let L = lane();
  let j = L.j; let s = L.s; let row = L.row;
  hs[L.r * H + j] = h0[row * H + j];
  var c = ${cell === "lstm" ? "c0[row * H + j]" : "0.0"};
  var out: array<f32, ${parts}>;
  for (var t = 0; t < T; t++) {
    workgroupBarrier();
    let xo = (row * T + t) * G;
    ${acc}
    for (var m = 0; m < H; m++) {
      let hm = hs[L.r * H + m];
      ${mac}
    }
    ${step[cell]}
    workgroupBarrier();
    hs[L.r * H + j] = h;
    if (L.valid) {
      for (var k = 0; k < ${parts}; k++) { result[(row * T + t) * K + k * H + j] = out[k]; }
    }
  }
}
`;
}

/** Gate-gradient columns per step in the backward's output: G, and for GRU one more block (d(n) r, for W_hn). */
function gradWidth(cell: CellKind, d: Dims): number {
  return cell === "gru" ? d.G + d.H : d.G;
}

function backwardCode(cell: CellKind, d: Dims): string {
  const W = gradWidth(cell, d), DY = cell === "lstm" ? 2 * d.H : d.H;
  const step: Record<CellKind, string> = {
    rnn: `let dj = dh + dy[yo + j];
    let da = select(0.0, dj, tape[to + j] > 0.0);
    ds[L.r * G + j] = da;
    grads[0] = da;`,
    irnn: "",
    lstm: `let dj = dh + dy[yo + j];
    let c = tape[to + H + j];
    let i = tape[to + 2 * H + j]; let f = tape[to + 3 * H + j];
    let g = tape[to + 4 * H + j]; let o = tape[to + 5 * H + j];
    let tc = tanhf(c);
    let cp = select(c0[row * H + j], tape[max(to - K, 0) + H + j], t > 0);
    let dcj = dc + dy[yo + H + j] + dj * o * (1.0 - tc * tc);
    grads = array<f32, 4>(dcj * g * i * (1.0 - i), dcj * cp * f * (1.0 - f), dcj * i * (1.0 - g * g),
                          dj * tc * o * (1.0 - o));
    for (var k = 0; k < 4; k++) { ds[L.r * G + k * H + j] = grads[k]; }
    dc = dcj * f;`,
    gru: `let dj = dh + dy[yo + j];
    let rg = tape[to + H + j]; let z = tape[to + 2 * H + j];
    let n = tape[to + 3 * H + j]; let hn = tape[to + 4 * H + j];
    let hp = select(h0[row * H + j], tape[max(to - K, 0) + j], t > 0);
    let dan = dj * (1.0 - z) * (1.0 - n * n);
    let dar = dan * hn * rg * (1.0 - rg);
    grads = array<f32, 4>(dar, dj * (hp - n) * z * (1.0 - z), dan, dan * rg);
    ds[L.r * G + j] = grads[0];
    ds[L.r * G + H + j] = grads[1];
    ds[L.r * G + 2 * H + j] = grads[3];
    own = dj * z;`,
  };
  step.irnn = step.rnn;
  return `${
    prelude(
      cell,
      d,
      `const W = ${W}; const DY = ${DY};
var<workgroup> ds: array<f32, ${rowsPerGroup(d.H) * d.G}>;`,
    )
  }
fn main(index: i32) {
  let L = lane();
  let j = L.j; let s = L.s; let row = L.row;
  var dh = 0.0;
  var dc = 0.0;
  var own = 0.0;
  var grads: array<f32, ${W / d.H}>;
  let base = row * (T * W + 2 * H);
  for (var u = 0; u < T; u++) {
    let t = T - 1 - u;
    let to = (row * T + t) * K;
    let yo = (row * T + t) * DY;
    ${step[cell]}
    if (L.valid) {
      for (var k = 0; k < W / H; k++) { result[base + t * W + k * H + j] = grads[k]; }
    }
    workgroupBarrier();
    var acc = own;
    for (var g = 0; g < G; g++) { acc += ds[L.r * G + g] * whh[(s * G + g) * H + j]; }
    dh = acc;
    workgroupBarrier();
  }
  if (L.valid) {
    result[base + T * W + j] = dh;
    result[base + T * W + H + j] = dc;
  }
}
`;
}

function program(
  name: string,
  cell: CellKind,
  d: Dims,
  outputShape: number[],
  variableNames: string[],
  code: string,
): WebGpuProgram {
  const R = rowsPerGroup(d.H);
  return {
    outputShape,
    shaderKey: `echolab_${name}_${cell}_${d.S}_${d.B}_${d.T}_${d.H}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil((d.S * d.B) / R), 1, 1],
    workgroupSize: [R * d.H, 1, 1],
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
  const d: Dims = { S, B, T, H, G };
  const lstm = cell === "lstm", K = TAPE[cell] * H, out = lstm ? 2 * H : H;
  const op = tf.customGrad((...args: (tf.Tensor | ((s: tf.Tensor[]) => void))[]) => {
    const save = args.pop() as (s: tf.Tensor[]) => void;
    const [x, h, ...rest] = args as tf.Tensor[];
    const [c, w, b] = lstm ? rest : [h, ...rest];
    const [names, inputs] = lstm
      ? [["xp", "h0", "c0", "whh", "bhh"], [x, h, c, w, b]]
      : [["xp", "h0", "whh", "bhh"], [x, h, w, b]];
    const tape = runProgram(program("fwd", cell, d, [S, B, T, K], names, forwardCode(cell, d)), inputs);
    save([tape, h, c, w]);
    const value = tf.slice(tape, [0, 0, 0, 0], [S, B, T, out]) as tf.Tensor4D;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [tp, hs, cs, ws] = saved;
      const W = gradWidth(cell, d);
      // A program binds only the inputs its code reads: rnn's backward needs no h0, LSTM's no h0 but c0, GRU's h0.
      const [names, inputs] = lstm
        ? [["dy", "tape", "c0", "whh"], [dy, tp, cs, ws]]
        : cell === "gru"
        ? [["dy", "tape", "h0", "whh"], [dy, tp, hs, ws]]
        : [["dy", "tape", "whh"], [dy, tp, ws]];
      const res = runProgram(program("bwd", cell, d, [S, B, T * W + 2 * H], names, backwardCode(cell, d)), inputs);
      const gates = tf.reshape(tf.slice(res, [0, 0, 0], [S, B, T * W]), [S, B, T, W]);
      const dxp = W === G ? gates : tf.slice(gates, [0, 0, 0, 0], [S, B, T, G]);
      // The gradient of W_hh and b_hh per gate; GRU's n gate sees W_hn h through r.
      const dGate = cell === "gru"
        ? tf.concat(
          [tf.slice(gates, [0, 0, 0, 0], [S, B, T, 2 * H]), tf.slice(gates, [0, 0, 0, 3 * H], [S, B, T, H])],
          3,
        )
        : gates;
      const prevH = T === 1
        ? tf.reshape(hs, [S, B, 1, H])
        : tf.concat([tf.reshape(hs, [S, B, 1, H]), tf.slice(tp, [0, 0, 0, 0], [S, B, T - 1, H])], 2);
      const flatGate = tf.reshape(dGate, [S, B * T, G]) as tf.Tensor3D;
      const dW = tf.matMul(flatGate, tf.reshape(prevH, [S, B * T, H]) as tf.Tensor3D, true, false);
      const db = tf.sum(flatGate, 1);
      const dh0 = tf.reshape(tf.slice(res, [0, 0, T * W], [S, B, H]), [S, B, H]);
      const dc0 = tf.reshape(tf.slice(res, [0, 0, T * W + H], [S, B, H]), [S, B, H]);
      return [dxp, dh0, ...(lstm ? [dc0] : []), dW, db];
    };
    return { value, gradFunc };
  });
  const inputs = lstm ? [xp, h0, c0!, whh, bhh] : [xp, h0, whh, bhh];
  return splitLayerOutput((op as (...t: tf.Tensor[]) => tf.Tensor4D)(...inputs), H, lstm);
}
