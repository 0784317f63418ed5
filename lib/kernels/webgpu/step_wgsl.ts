/**
 * The fused WebGPU training step's two programs, as WGSL, for one tile of
 * replicas (`step_plan.ts` lays the buffers out). One workgroup owns one
 * replica: `STEP_THREADS` threads in `rowGroups` rows of H, thread j of a row
 * owning hidden unit j of one batch row at a time, rows taken in blocks.
 *
 * - `gradients`: every layer's forward over the chunk (tape to the work
 *   buffer, h between steps through workgroup memory, W_hh there too where it
 *   fits), the head, the loss (PyTorch's BCE with logits, mean) and the right
 *   digits, then BPTT down the layers, each parameter's gradient summed by the
 *   one thread that owns it (no atomics), and the replica's gradient norm
 *   turned into clip_grad_norm_'s coefficient.
 * - `update`: the clip coefficient and the alive mask applied, RMSprop or
 *   Adam on every parameter of the replica (debug: the applied gradients
 *   written out).
 *
 * PyTorch's equations and gate orders (i,f,g,o and r,z,n), as `layer.ts`;
 * float32 throughout. Not the plan (`step_plan.ts`) nor the dispatching
 * (`step.ts`).
 */
import { STEP_TAPE, STEP_THREADS, type StepPlan } from "./step_plan.ts";

/** WGSL constants naming each parameter's region in a packed buffer of the tile (`R` replicas). */
function regions(plan: StepPlan): string {
  return plan.params.map((p, v) => `const V${v} = ${plan.tile * p.prefix}; const N${v} = ${p.size}; // ${p.name}`)
    .join("\n");
}

const COMMON = `
// sigmoid and tanh from exp(-|x|), which cannot overflow (as layer.ts).
fn sigm(x: f32) -> f32 { let e = exp(-abs(x)); return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0); }
fn tanhf(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); let t = (1.0 - e) / (1.0 + e); return select(-t, t, x >= 0.0); }
// log(1 + exp(-|z|)), with log1p's accuracy for small exp(-|z|) (WGSL has no log1p).
fn softplusNegAbs(z: f32) -> f32 {
  let e = exp(-abs(z)); let u = 1.0 + e;
  return select(log(u) * e / (u - 1.0), e, u == 1.0);
}
struct Rule { clip: f32, lr: f32, a: f32, a1: f32, b: f32, b1: f32, eps: f32, stepSize: f32, sqrtC2: f32, p0: f32, p1: f32, p2: f32 };
`;

/** The rule's uniforms in {@linkcode COMMON}'s `Rule` order. */
export function ruleUniforms(r: {
  clip: number;
  lr: number;
  a: number;
  b: number;
  eps: number;
  stepSize: number;
  sqrtC2: number;
}): number[] {
  return [r.clip, r.lr, r.a, 1 - r.a, r.b, 1 - r.b, r.eps, r.stepSize, r.sqrtC2, 0, 0, 0];
}

/** The gradients program: forward, loss, backward and each replica's clip coefficient (see the top of the file). */
export function gradientsWgsl(plan: StepPlan): string {
  const { cell, hidden: H, layers: L, inputSize: K0, batch: B, bptt: T } = plan.dims;
  const { G, GW, TW, tile: R, nState, rowGroups: RG, sharedWhh } = plan;
  const NG = G / H, BT = B * T, NB = GW / H, TP = STEP_TAPE[cell];
  const lstm = cell === "lstm", gru = cell === "gru";
  const wih = (l: number) => 4 * l, whh = (l: number) => 4 * l + 1, bih = (l: number) => 4 * l + 2;
  const bhh = (l: number) => 4 * l + 3, LW = 4 * L, LB = 4 * L + 1;
  const K = (l: number) => (l === 0 ? K0 : H);
  // Where state tensor i of this replica's batch row b starts: in (the chunk's start) or out (its end).
  const stIn = (i: string) => `((${i}) * R + s) * B * H + b * H`;
  // A layer's input at (b, t, m): x, or the layer below's h on the tape.
  const input = (l: number, bt: string, m: string) =>
    l === 0 ? `D[(s * BT + ${bt}) * K0 + ${m}]` : `WK[wr + (${l - 1} * BT + ${bt}) * TW + ${m}]`;
  // W_hh of layer l at (gate row q, column m): workgroup memory (forward transposed, backward as stored) or global.
  const whhFwd = (l: number, q: string, m: string) =>
    sharedWhh ? `wS[(${m}) * G + ${q}]` : `P[V${whh(l)} + s * G * H + (${q}) * H + ${m}]`;
  const whhBwd = (l: number, q: string, m: string) =>
    sharedWhh ? `wS[(${q}) * H + ${m}]` : `P[V${whh(l)} + s * G * H + (${q}) * H + ${m}]`;
  const loadW = (l: number, transposed: boolean) =>
    sharedWhh
      ? `for (var e = tid; e < G * H; e += WG) { wS[${transposed ? "(e % H) * G + e / H" : "e"}] = ` +
        `P[V${whh(l)} + s * G * H + e]; }\n  workgroupBarrier();`
      : "";

  const cellForward: Record<string, string> = {
    rnn: `let h = max(xg[0] + hg[0], 0.0);
      let tp = array<f32, 1>(h);`,
    lstm: `let ig = sigm(xg[0] + hg[0]); let fg = sigm(xg[1] + hg[1]);
      let gg = tanhf(xg[2] + hg[2]); let og = sigm(xg[3] + hg[3]);
      c = fg * c + ig * gg;
      let h = og * tanhf(c);
      let tp = array<f32, 6>(h, c, ig, fg, gg, og);`,
    gru: `let r = sigm(xg[0] + hg[0]); let z = sigm(xg[1] + hg[1]);
      let hn = hg[2]; // W_hn h + b_hn
      let n = tanhf(xg[2] + r * hn);
      let h = (1.0 - z) * n + z * hOwn;
      let tp = array<f32, 5>(h, r, z, n, hn);`,
  };
  cellForward.irnn = cellForward.rnn;

  const forward = (l: number) => `
  // ---- layer ${l} forward
  ${loadW(l, true)}
  for (var b0 = 0; b0 < B; b0 += RG) {
    let b = min(b0 + gr, B - 1); let ok = inRow && b0 + grp < B;
    var hOwn = ST[${stIn(String(l))} + j];
    if (inRow) { hS[gr * H + j] = hOwn; }
    var c = ${lstm ? `ST[${stIn(String(L + l))} + j]` : "0.0"};
    for (var t = 0; t < T; t++) {
      workgroupBarrier();
      let bt = b * T + t;
      var xg: array<f32, NG>; var hg: array<f32, NG>;
      for (var k = 0; k < NG; k++) { xg[k] = P[V${bih(l)} + s * G + k * H + j]; hg[k] = P[V${
    bhh(l)
  } + s * G + k * H + j]; }
      for (var m = 0; m < ${K(l)}; m++) {
        let xm = ${input(l, "bt", "m")};
        for (var k = 0; k < NG; k++) { xg[k] += P[V${wih(l)} + s * G * ${K(l)} + (k * H + j) * ${K(l)} + m] * xm; }
      }
      for (var m = 0; m < H; m++) {
        let hm = hS[gr * H + m];
        for (var k = 0; k < NG; k++) { hg[k] += ${whhFwd(l, "k * H + j", "m")} * hm; }
      }
      ${cellForward[cell]}
      hOwn = h;
      workgroupBarrier();
      if (inRow) { hS[gr * H + j] = h; }
      if (ok) { for (var k = 0; k < ${TP}; k++) { WK[wr + (${l} * BT + bt) * TW + k * H + j] = tp[k]; } }
    }
    if (ok) {
      ST[ST_OUT + ${stIn(String(l))} + j] = hOwn;
      ${lstm ? `ST[ST_OUT + ${stIn(String(L + l))} + j] = c;` : ""}
    }
  }
  storageBarrier(); workgroupBarrier();`;

  const cellBackward: Record<string, string> = {
    rnn: `let dpre = select(0.0, dhs, WK[ta + j] > 0.0);
        let dg = array<f32, 1>(dpre);
        if (inRow) { dS[gr * G + j] = dpre; }`,
    lstm: `let cc = WK[ta + H + j]; let ig = WK[ta + 2 * H + j]; let fg = WK[ta + 3 * H + j];
        let gg = WK[ta + 4 * H + j]; let og = WK[ta + 5 * H + j];
        let tc = tanhf(cc);
        var cp = ST[${stIn(`${L} + LAYER`)} + j];
        if (t > 0) { cp = WK[ta - TW + H + j]; }
        let dcs = dc + dhs * og * (1.0 - tc * tc);
        let dg = array<f32, 4>(dcs * gg * ig * (1.0 - ig), dcs * cp * fg * (1.0 - fg), dcs * ig * (1.0 - gg * gg),
                               dhs * tc * og * (1.0 - og));
        dc = dcs * fg;
        if (inRow) { for (var k = 0; k < 4; k++) { dS[gr * G + k * H + j] = dg[k]; } }`,
    gru: `let r = WK[ta + H + j]; let z = WK[ta + 2 * H + j]; let n = WK[ta + 3 * H + j]; let hn = WK[ta + 4 * H + j];
        var hp = ST[${stIn("LAYER")} + j];
        if (t > 0) { hp = WK[ta - TW + j]; }
        let dn = dhs * (1.0 - z) * (1.0 - n * n);
        let dr = dn * hn * r * (1.0 - r);
        let dzg = dhs * (hp - n) * z * (1.0 - z);
        let dg = array<f32, 4>(dr, dzg, dn, dn * r);
        if (inRow) { dS[gr * G + j] = dr; dS[gr * G + H + j] = dzg; dS[gr * G + 2 * H + j] = dn * r; }
        dhU = dhs * z;`,
  };
  cellBackward.irnn = cellBackward.rnn;
  // The W_hh side's gradient column of gate row q (GRU's n gate sees W_hn h through r: block 3).
  const colH = gru ? "select(q + H, q, q < 2 * H)" : "q";

  const backward = (l: number) => `
  // ---- layer ${l} backward
  ${loadW(l, false)}
  for (var b0 = 0; b0 < B; b0 += RG) {
    let b = min(b0 + gr, B - 1); let ok = inRow && b0 + grp < B;
    var dh = 0.0; var dc = 0.0; var dhU = 0.0;
    for (var u = 0; u < T; u++) {
      let t = T - 1 - u;
      let bt = b * T + t;
      let ta = wr + (${l} * BT + bt) * TW;
      let dhs = dh + ${l === L - 1 ? `WK[wr + Z_AT + bt] * P[V${LW} + s * H + j]` : `WK[wr + DX_AT + bt * H + j]`};
      ${cellBackward[cell].replaceAll("LAYER", String(l))}
      if (ok) { for (var k = 0; k < ${NB}; k++) { WK[wr + DG_AT + bt * GW + k * H + j] = dg[k]; } }
      workgroupBarrier();
      var dp = dhU;
      for (var q = 0; q < G; q++) { dp += dS[gr * G + q] * ${whhBwd(l, "q", "j")}; }
      dh = dp;
      workgroupBarrier();
    }
  }
  storageBarrier(); workgroupBarrier();
  // ---- layer ${l} parameter gradients, each entry summed over the chunk by the thread that owns it
  for (var e = tid; e < G * H; e += WG) {
    let q = e / H; let m = e % H; let col = ${colH};
    var acc = 0.0;
    for (var b = 0; b < B; b++) {
      for (var t = 0; t < T; t++) {
        let bt = b * T + t;
        var hp = ST[${stIn(String(l))} + m];
        if (t > 0) { hp = WK[wr + (${l} * BT + bt - 1) * TW + m]; }
        acc += WK[wr + DG_AT + bt * GW + col] * hp;
      }
    }
    GR[V${whh(l)} + s * G * H + e] = acc; sq += acc * acc;
  }
  for (var e = tid; e < G * ${K(l)}; e += WG) {
    let q = e / ${K(l)}; let m = e % ${K(l)};
    var acc = 0.0;
    for (var bt = 0; bt < BT; bt++) { acc += WK[wr + DG_AT + bt * GW + q] * ${input(l, "bt", "m")}; }
    GR[V${wih(l)} + s * G * ${K(l)} + e] = acc; sq += acc * acc;
  }
  for (var q = tid; q < G; q += WG) {
    let col = ${colH};
    var ai = 0.0; var ah = 0.0;
    for (var bt = 0; bt < BT; bt++) { ai += WK[wr + DG_AT + bt * GW + q]; ah += WK[wr + DG_AT + bt * GW + col]; }
    GR[V${bih(l)} + s * G + q] = ai; GR[V${bhh(l)} + s * G + q] = ah; sq += ai * ai + ah * ah;
  }
  ${
    l > 0
      ? `// the gradient reaching layer ${l - 1}'s h through this layer's input
  for (var e = tid; e < BT * H; e += WG) {
    let bt = e / H; let m = e % H;
    var acc = 0.0;
    for (var q = 0; q < G; q++) { acc += WK[wr + DG_AT + bt * GW + q] * P[V${wih(l)} + s * G * H + q * H + m]; }
    WK[wr + DX_AT + e] = acc;
  }`
      : ""
  }
  storageBarrier(); workgroupBarrier();`;

  const layers = Array.from({ length: L }, (_, l) => l);
  return `${COMMON}
const R = ${R}; const B = ${B}; const T = ${T}; const BT = ${BT}; const H = ${H}; const G = ${G}; const NG = ${NG};
const K0 = ${K0}; const TW = ${TW}; const GW = ${GW}; const WG = ${STEP_THREADS}; const RG = ${RG};
const WR = ${plan.workFloats}; // work floats per replica: tapes, gate gradients, input gradients, dz
const DG_AT = ${L * BT * TW}; const DX_AT = ${L * BT * TW + BT * GW}; const Z_AT = ${L * BT * TW + BT * GW + BT * H};
const Y_AT = ${R * BT * K0}; const ST_OUT = ${nState * R * B * H};
${regions(plan)}
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read> D: array<f32>;
@group(0) @binding(2) var<storage, read_write> ST: array<f32>;
@group(0) @binding(3) var<storage, read_write> WK: array<f32>;
@group(0) @binding(4) var<storage, read_write> GR: array<f32>;
@group(0) @binding(5) var<storage, read_write> SM: array<f32>;
@group(0) @binding(6) var<uniform> rule: Rule;
var<workgroup> hS: array<f32, ${RG * H}>;
var<workgroup> dS: array<f32, ${RG * G}>;
var<workgroup> red: array<f32, WG>;
${sharedWhh ? `var<workgroup> wS: array<f32, ${G * H}>;` : ""}
fn reduceSum(v: f32, tid: i32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  for (var k = WG / 2; k > 0; k = k / 2) {
    if (tid < k) { red[tid] += red[tid + k]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
@compute @workgroup_size(${STEP_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = i32(wid.x); let tid = i32(lid);
  let grp = tid / H; let j = tid % H; let inRow = grp < RG; let gr = min(grp, RG - 1);
  let wr = s * WR;
  var sq = 0.0; // this thread's share of the replica's squared gradient norm
  ${layers.map(forward).join("\n")}
  // ---- head, loss and right digits; dz = (sigmoid(z) - y) / BT kept for the backward
  var la = 0.0; var ra = 0.0;
  for (var e = tid; e < BT; e += WG) {
    let at = wr + (${L - 1} * BT + e) * TW;
    var z = P[V${LB} + s];
    for (var m = 0; m < H; m++) { z += P[V${LW} + s * H + m] * WK[at + m]; }
    let y = D[Y_AT + s * BT + e];
    la += max(z, 0.0) - z * y + softplusNegAbs(z);
    ra += select(0.0, 1.0, select(0.0, 1.0, z > 0.0) == y);
    WK[wr + Z_AT + e] = (sigm(z) - y) / f32(BT);
  }
  let lossSum = reduceSum(la, tid);
  let rightSum = reduceSum(ra, tid);
  if (tid == 0) { SM[s] = lossSum / f32(BT); SM[R + s] = rightSum; }
  storageBarrier(); workgroupBarrier();
  for (var m = tid; m < H; m += WG) {
    var acc = 0.0;
    for (var e = 0; e < BT; e++) { acc += WK[wr + Z_AT + e] * WK[wr + (${L - 1} * BT + e) * TW + m]; }
    GR[V${LW} + s * H + m] = acc; sq += acc * acc;
  }
  if (tid == WG - 1) {
    var acc = 0.0;
    for (var e = 0; e < BT; e++) { acc += WK[wr + Z_AT + e]; }
    GR[V${LB} + s] = acc; sq += acc * acc;
  }
  ${[...layers].reverse().map(backward).join("\n")}
  // ---- clip_grad_norm_'s coefficient maxNorm / (norm + 1e-6), capped at 1 (1 without a clip)
  let total = reduceSum(sq, tid);
  if (tid == 0) { SM[2 * R + s] = select(1.0, min(rule.clip / (sqrt(total) + 1e-6), 1.0), rule.clip > 0.0); }
}
`;
}

/** The update program: clip, alive mask, RMSprop or Adam (see the top of the file). */
export function updateWgsl(plan: StepPlan): string {
  const { adam, debug } = plan.dims;
  const R = plan.tile;
  const step = adam
    ? `let m = rule.a * M[i] + rule.a1 * g; let v = rule.b * M[MV + i] + rule.b1 * g * g;
      M[i] = m; M[MV + i] = v;
      P[i] = P[i] - rule.stepSize * (m / (sqrt(v) / rule.sqrtC2 + rule.eps));`
    : `let v = rule.a * M[i] + rule.a1 * g * g;
      M[i] = v;
      P[i] = P[i] - rule.lr * g / (sqrt(v) + rule.eps);`;
  const loops = plan.params.map((_, v) =>
    `for (var e = tid; e < N${v}; e += WG) { applyAt(V${v} + s * N${v} + e, coef, alive); }`
  ).join("\n  ");
  return `${COMMON}
const R = ${R}; const WG = ${STEP_THREADS}; const MV = ${R * plan.paramFloats};
${regions(plan)}
@group(0) @binding(0) var<storage, read_write> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> M: array<f32>;
@group(0) @binding(2) var<storage, read> GR: array<f32>;
@group(0) @binding(3) var<storage, read> SM: array<f32>;
@group(0) @binding(4) var<uniform> rule: Rule;
${debug ? "@group(0) @binding(5) var<storage, read_write> AP: array<f32>;" : ""}
fn applyAt(i: i32, coef: f32, alive: bool) {
  let g = GR[i] * coef;
  ${debug ? "AP[i] = g;" : ""}
  if (alive) {
    ${step}
  }
}
@compute @workgroup_size(${STEP_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = i32(wid.x); let tid = i32(lid);
  let coef = SM[2 * R + s]; let alive = SM[3 * R + s] > 0.0;
  ${loops}
}
`;
}
