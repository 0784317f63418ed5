/**
 * The echo task's data made on the GPU: `../../echo_bits.ts`'s counter-based
 * generator (Philox-4x32-10) in WGSL, bit for bit, so a seed gives the same
 * series on every backend and a training step on the GPU needs no upload.
 * One thread per (replica, batch row, 128 output steps): it runs Philox for
 * the one or two counter blocks its steps read and writes each bit as a
 * float32 0 or 1, x `[S, B, L]` as the training step consumes it, and the
 * targets y (x shifted right by the echo step with zero fill, as
 * `EchoData`) from the same program with a shift.
 *
 * WGSL has no u64: the 32x32->64 multiply's high word is built from 16-bit
 * halves, exactly as `mulhi` in `../../echo_bits.ts` (the low word is u32
 * multiplication, which wraps). Seeds and the stream key are uint32 carried
 * in int32 tensors and uniforms and bitcast back.
 *
 * Where it plugs in (issue 17, part 2; not wired yet): the GPU training step
 * of `../kernel.ts`'s step interface will call {@linkcode echoBitsWebGpu} at
 * chunk 0 of each epoch (draw e + 1 in epoch e, draw 0 throughout with
 * `--fixed-series`, as `EchoData` counts draws) with the run's seeds kept on
 * the device ({@linkcode seedTensor}), in place of `lib/train.ts`'s
 * `stackChunks` building every replica's chunk on the host and uploading it;
 * or per chunk with `start` = chunk x T and `length` = T.
 *
 * Not the generator's definition (`../../echo_bits.ts`), nor the layers
 * (`layer.ts`) and optimizer (`update.ts`).
 */
import { tf } from "../../tf.ts";
import { streamKey } from "../../echo_bits.ts";
import { type ProgramUniforms, runProgram, type WebGpuProgram } from "./program.ts";
import { webgpuBufferLimit } from "./limits.ts";

/** Threads per workgroup. */
const GROUP = 64;

/** Bits per Philox block (one thread's output steps). */
const BLOCK = 128;

/** Philox-4x32-10 in WGSL: `philox(counter, key)`, the same constants and round as `philox4x32`. */
export const PHILOX_WGSL = `
const PHILOX_M0 = 0xd2511f53u; const PHILOX_M1 = 0xcd9e8d57u;
const PHILOX_W0 = 0x9e3779b9u; const PHILOX_W1 = 0xbb67ae85u;
// (high, low) words of the 64-bit product a * b, exactly: the high word from 16-bit halves.
fn mulHiLo(a: u32, b: u32) -> vec2<u32> {
  let aLo = a & 0xffffu; let aHi = a >> 16u; let bLo = b & 0xffffu; let bHi = b >> 16u;
  let lolo = aLo * bLo; let mid1 = aHi * bLo; let mid2 = aLo * bHi;
  let carry = ((lolo >> 16u) + (mid1 & 0xffffu) + (mid2 & 0xffffu)) >> 16u;
  return vec2<u32>(aHi * bHi + (mid1 >> 16u) + (mid2 >> 16u) + carry, a * b);
}
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter; var k = key;
  for (var r = 0; r < 10; r++) {
    let p0 = mulHiLo(PHILOX_M0, c.x);
    let p1 = mulHiLo(PHILOX_M1, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
  }
  return c;
}
`;

/**
 * A workgroup count laid out within the adapter's per-dimension limit
 * (65535 on every WebGPU adapter so far): x first, then y; tfjs's
 * `main(index)` flattens it back.
 */
function layout(groups: number, maxPerDim: number): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  if (y > maxPerDim) throw new RangeError(`echo bits: ${groups} workgroups pass the adapter's dispatch limit`);
  return [Math.ceil(groups / y), y, 1];
}

/** What {@linkcode bitsProgram} builds. */
interface BitsShape {
  S: number;
  B: number;
  L: number;
  /** Each replica's own draw from a `draws` input, or one shared draw from a uniform. */
  perReplicaDraw: boolean;
  maxPerDim: number;
}

/**
 * Steps `start + t - shift` of each row's bits, for t in 0..L-1, zero where
 * that step is negative: x with shift 0, y with the echo step. The sizes
 * come from uniforms, so one pipeline serves every shape.
 */
function bitsProgram({ S, B, L, perReplicaDraw, maxPerDim }: BitsShape): WebGpuProgram {
  const blocks = Math.ceil(L / BLOCK);
  const threads = S * B * blocks;
  return {
    outputShape: [S, B, L],
    shaderKey: `echolab_echo_bits_${perReplicaDraw ? "drawn" : "shared"}`,
    dispatchLayout: { x: [0, 1, 2] },
    dispatch: layout(Math.ceil(threads / GROUP), maxPerDim),
    workgroupSize: [GROUP, 1, 1],
    variableNames: perReplicaDraw ? ["seeds", "draws"] : ["seeds"],
    uniforms: "streamKey : i32, draw : i32, start : i32, shift : i32,",
    getUserCode: () => `
${PHILOX_WGSL}
fn main(index: i32) {
  let S = uniforms.outShape[0]; let B = uniforms.outShape[1]; let L = uniforms.outShape[2];
  let blocks = (L + ${BLOCK - 1}) / ${BLOCK};
  if (index >= S * B * blocks) { return; }
  let rowIndex = index / blocks; // s * B + b
  let s = rowIndex / B;
  let key = vec2<u32>(bitcast<u32>(seeds[s]), bitcast<u32>(uniforms.streamKey));
  let draw = bitcast<u32>(${perReplicaDraw ? "draws[s]" : "uniforms.draw"});
  let counterRow = u32(rowIndex - s * B);
  let t0 = (index - rowIndex * blocks) * ${BLOCK};
  let t1 = min(t0 + ${BLOCK}, L);
  var cached = -1; // the counter block in words
  var words = vec4<u32>(0u);
  for (var t = t0; t < t1; t++) {
    let at = uniforms.start + t - uniforms.shift; // the series step this output reads
    var bit = 0.0;
    if (at >= 0) {
      let block = at / ${BLOCK};
      if (block != cached) {
        words = philox(vec4<u32>(u32(block), counterRow, draw, 0u), key);
        cached = block;
      }
      let i = u32(at % ${BLOCK});
      bit = f32((words[i >> 5u] >> (i & 31u)) & 1u);
    }
    result[rowIndex * L + t] = bit;
  }
}
`,
  };
}

/** Seeds as the program reads them: an int32 `[S]` tensor holding each seed's uint32 bits (seed taken `>>> 0`). */
export function seedTensor(seeds: readonly number[]): tf.Tensor1D {
  return tf.tensor1d(new Int32Array(Uint32Array.from(seeds, (s) => s >>> 0).buffer), "int32");
}

/** What {@linkcode echoBitsWebGpu} makes. */
export interface EchoBitsSpec {
  /** Each replica's seed (uint32), or an int32 tensor of them from {@linkcode seedTensor}, kept on the device. */
  seeds: readonly number[] | tf.Tensor1D;
  /** The stream's name ("train", "test", "echo-check") or its key word (`streamKey`). */
  stream: string | number;
  /** The series draw: one for every replica, or each replica's own (array or int32 `[S]` tensor). */
  draw: number | readonly number[] | tf.Tensor1D;
  /** Batch rows B. */
  batch: number;
  /** Steps L per row. */
  length: number;
  /** The series step of the output's first step (a chunk's offset); default 0. */
  start?: number;
  /** When given, the targets y too: x shifted right by this many steps of the series, zeros in front. */
  echoStep?: number;
  /** Workgroups per dispatch dimension; default the adapter's limit. Lower only to test the 2-D layout. */
  maxWorkgroupsPerDimension?: number;
}

/** The data for every replica: x `[S, B, L]` of 0 and 1, and y when the echo step was given. */
export interface EchoBitsTensors {
  x: tf.Tensor3D;
  y?: tf.Tensor3D;
}

/**
 * The bits of `lib/echo_bits.ts` for a block of replicas, made on the active
 * webgpu backend: `x[s, b, t]` is bit `start + t` of
 * `echoBits({ seed: seeds[s], stream, draw: draw[s], row: b })`, and
 * `y[s, b, t]` is `x` at step `start + t - echoStep` of the series, 0
 * before the series starts, exactly `EchoData`'s targets. One dispatch
 * each; nothing uploaded but the seeds and draws when given as arrays.
 * Throws a RangeError when an output would pass the adapter's binding
 * limit, naming the most replicas that fit (split the replicas into tiles).
 *
 * @example
 * ```ts ignore
 * await useBackend("webgpu");
 * const { x, y } = echoBitsWebGpu({ seeds: [1, 2], stream: "train", draw: 0, batch: 5, length: 200, echoStep: 3 });
 * ```
 */
export function echoBitsWebGpu(spec: EchoBitsSpec): EchoBitsTensors {
  const { batch: B, length: L, start = 0, echoStep } = spec;
  for (const [name, v] of Object.entries({ batch: B, length: L })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`echo bits: ${name} must be an integer >= 1, got ${v}`);
  }
  if (!Number.isInteger(start) || start < 0) throw new RangeError(`echo bits: start must be an integer >= 0`);
  if (echoStep !== undefined && (!Number.isInteger(echoStep) || echoStep < 0)) {
    throw new RangeError(`echo bits: echoStep must be an integer >= 0, got ${echoStep}`);
  }
  const S = spec.seeds instanceof tf.Tensor ? spec.seeds.shape[0] : spec.seeds.length;
  if (S < 1) throw new RangeError("echo bits: no seeds");
  if (start + L >= 2 ** 31) throw new RangeError(`echo bits: steps past 2^31 (start ${start} + length ${L})`);
  // The output's bytes within the binding limit, and its index within i32 (the shader's `main(index)`).
  const limit = webgpuBufferLimit();
  const fit = Math.min(Math.floor(limit / (4 * B * L)), Math.floor((2 ** 31 - 1) / (B * L)));
  if (S > fit) {
    throw new RangeError(
      `echo bits: ${S} replicas x ${B} rows x ${L} steps pass this adapter's binding limit of ` +
        `${(limit / 2 ** 20).toFixed(0)} MiB; at most ${fit} replicas fit per dispatch (split them into tiles)`,
    );
  }
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const maxPerDim = Math.min(
    device.limits.maxComputeWorkgroupsPerDimension,
    spec.maxWorkgroupsPerDimension ?? Infinity,
  );

  const owned: tf.Tensor[] = [];
  const seeds = spec.seeds instanceof tf.Tensor ? spec.seeds : seedTensor(spec.seeds);
  if (seeds !== spec.seeds) owned.push(seeds);
  const key = typeof spec.stream === "string" ? streamKey(spec.stream) : spec.stream;
  const perReplicaDraw = typeof spec.draw !== "number";
  let draws: tf.Tensor1D | undefined;
  if (spec.draw instanceof tf.Tensor) draws = spec.draw;
  else if (typeof spec.draw !== "number") {
    if (spec.draw.length !== S) throw new RangeError(`echo bits: ${spec.draw.length} draws for ${S} seeds`);
    draws = tf.tensor1d(new Int32Array(Uint32Array.from(spec.draw, (d) => d >>> 0).buffer), "int32");
    owned.push(draws);
  }
  const inputs = draws ? [seeds, draws] : [seeds];
  const shared = typeof spec.draw === "number" ? spec.draw : 0;
  const run = (shift: number) => {
    const uniforms: ProgramUniforms = [
      { type: "int32", data: [key | 0] },
      { type: "int32", data: [shared | 0] },
      { type: "int32", data: [start] },
      { type: "int32", data: [shift] },
    ];
    return runProgram(bitsProgram({ S, B, L, perReplicaDraw, maxPerDim }), inputs, uniforms) as tf.Tensor3D;
  };
  try {
    const x = run(0);
    return echoStep === undefined ? { x } : { x, y: run(echoStep) };
  } finally {
    // tfjs keeps an input alive until the commands that read it are done.
    for (const t of owned) t.dispose();
  }
}

/**
 * Philox-4x32-10 on the GPU for a few (counter, key) pairs, to check the WGSL
 * against Random123's known answers: `inputs` is int32 `[N, 6]` (c0..c3, k0,
 * k1 as uint32 bits); the output `[N, 8]` holds each output word as its low
 * and high 16 bits (float32 holds them exactly).
 */
export function philoxWebGpu(inputs: tf.Tensor2D): tf.Tensor2D {
  const n = inputs.shape[0];
  const program: WebGpuProgram = {
    outputShape: [n, 8],
    shaderKey: "echolab_philox_kat",
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil(n / GROUP), 1, 1],
    workgroupSize: [GROUP, 1, 1],
    variableNames: ["pairs"],
    getUserCode: () => `
${PHILOX_WGSL}
fn main(index: i32) {
  if (index >= uniforms.outShape[0]) { return; }
  let at = index * 6;
  let w = philox(
    vec4<u32>(bitcast<u32>(pairs[at]), bitcast<u32>(pairs[at + 1]), bitcast<u32>(pairs[at + 2]), bitcast<u32>(pairs[at + 3])),
    vec2<u32>(bitcast<u32>(pairs[at + 4]), bitcast<u32>(pairs[at + 5])));
  for (var i = 0; i < 4; i++) {
    result[index * 8 + 2 * i] = f32(w[i] & 0xffffu);
    result[index * 8 + 2 * i + 1] = f32(w[i] >> 16u);
  }
}
`,
  };
  return runProgram(program, [inputs]) as tf.Tensor2D;
}
