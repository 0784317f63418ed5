// mutants: fast 10
/**
 * The WGSL port of the data generator (lib/kernels/webgpu/echo_bits.ts) against its definition,
 * lib/echo_bits.ts, bit for bit: Random123's known answers through a tiny dispatch, then x and the
 * echoed targets y for every stream, seeds at the ends of uint32, draws shared and per replica,
 * odd batch sizes and lengths that are not multiples of 32 or 128, chunk offsets, and EchoData's
 * own series. Runs wherever WebGPU finds an adapter (llvmpipe here); without one every test is
 * ignored and one line says why.
 */
import { webgpuTests } from "../_webgpu.ts";
import { assert } from "../_assert.ts";
import { tf } from "../../lib/tf.ts";
import { findWebGpuAdapter } from "../../lib/backend.ts";
import { echoBits, streamKey } from "../../lib/echo_bits.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { echoBitsWebGpu, philoxWebGpu, seedTensor } from "../../lib/kernels/webgpu/echo_bits.ts";

const adapter = await findWebGpuAdapter();
const skip = typeof adapter === "string" ? adapter : null;
if (skip) console.log(`webgpu bits tests skipped: ${skip}`);

const gpuTest = webgpuTests("webgpu bits", skip);

const STREAMS = ["train", "test", "echo-check"];
const SEEDS = [0, 1, 42, 0x7fffffff, 0x80000000, 0xffffffff];

/** Reads a tensor and disposes it. */
async function read(t: tf.Tensor): Promise<Float32Array> {
  const data = await t.data() as Float32Array;
  t.dispose();
  return data;
}

/** What lib/echo_bits.ts says `[S, B, L]` x and y are, from series step `start`. */
function expected(
  seeds: number[],
  stream: string,
  draws: number[],
  B: number,
  L: number,
  start: number,
  echoStep: number,
): { x: Uint8Array; y: Uint8Array } {
  const x = new Uint8Array(seeds.length * B * L), y = new Uint8Array(seeds.length * B * L);
  const row = new Uint8Array(start + L);
  seeds.forEach((seed, s) => {
    for (let b = 0; b < B; b++) {
      echoBits({ seed, stream: streamKey(stream), draw: draws[s], row: b }, start + L, row);
      for (let t = 0; t < L; t++) {
        const at = (s * B + b) * L + t;
        x[at] = row[start + t];
        y[at] = start + t >= echoStep ? row[start + t - echoStep] : 0;
      }
    }
  });
  return { x, y };
}

/** The first index where `got` and `want` differ, with its [s, b, t], or "" when they agree. */
function firstDiff(got: Float32Array, want: Uint8Array, B: number, L: number): string {
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      return `[s ${Math.floor(i / (B * L))}, b ${Math.floor(i / L) % B}, t ${i % L}]: ${got[i]}, want ${want[i]}`;
    }
  }
  return "";
}

gpuTest("philox4x32-10 in WGSL gives Random123's known answers (kat_vectors)", async () => {
  const kat: [number[], string][] = [
    [[0, 0, 0, 0, 0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [Array(6).fill(0xffffffff), "408f276d 41c83b0e a20bc7c6 6d5451fd"],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0], "d16cfe09 94fdcceb 5001e420 24126ea1"],
  ];
  const pairs = new Uint32Array(kat.flatMap(([v]) => v));
  const out = await read(philoxWebGpu(tf.tensor2d(new Int32Array(pairs.buffer), [kat.length, 6], "int32")));
  kat.forEach(([, want], n) => {
    const words = Array.from({ length: 4 }, (_, i) => out[n * 8 + 2 * i] + out[n * 8 + 2 * i + 1] * 65536);
    assert.equal(words.map((w) => w.toString(16).padStart(8, "0")).join(" "), want, `vector ${n}`);
  });
});

gpuTest("x and y equal echoBits on every stream, seed, draw, odd B and L (shared draw)", async () => {
  for (const stream of STREAMS) {
    for (const [B, L, echoStep] of [[3, 77, 3], [5, 300, 130], [1, 1, 1], [7, 129, 0]]) {
      for (let draw = 0; draw < 3; draw++) {
        const { x, y } = echoBitsWebGpu({ seeds: SEEDS, stream, draw, batch: B, length: L, echoStep });
        const want = expected(SEEDS, stream, SEEDS.map(() => draw), B, L, 0, echoStep);
        const where = `${stream} B ${B} L ${L} echo ${echoStep} draw ${draw}`;
        assert.equal(firstDiff(await read(x), want.x, B, L), "", `x ${where}`);
        assert.equal(firstDiff(await read(y!), want.y, B, L), "", `y ${where}`);
      }
    }
  }
});

gpuTest("each replica's own draw, from an array or a tensor, with seeds kept on the device", async () => {
  const draws = [2, 0, 1, 1, 0, 2];
  const seeds = seedTensor(SEEDS);
  const drawTensor = tf.tensor1d(draws, "int32");
  for (const stream of STREAMS) {
    const want = expected(SEEDS, stream, draws, 5, 200, 0, 10);
    for (const draw of [draws, drawTensor]) {
      const { x, y } = echoBitsWebGpu({ seeds, stream: streamKey(stream), draw, batch: 5, length: 200, echoStep: 10 });
      assert.equal(firstDiff(await read(x), want.x, 5, 200), "", `x ${stream}`);
      assert.equal(firstDiff(await read(y!), want.y, 5, 200), "", `y ${stream}`);
    }
  }
  // Without an echo step, x alone.
  assert.equal(echoBitsWebGpu({ seeds, stream: "train", draw: 0, batch: 1, length: 3 }).y, undefined);
  seeds.dispose(), drawTensor.dispose();
});

gpuTest("EchoData's draws 0..2 and their chunks: the series, the targets and every chunk from its offset", async () => {
  const opts = { echoStep: 3, batchSize: 5, seriesLength: 300, truncatedLength: 20 };
  for (const stream of STREAMS) {
    const datas = EchoData.forSeeds(SEEDS, { ...opts, stream });
    for (let draw = 0; draw < 3; draw++) {
      if (draw > 0) datas.forEach((d) => d.chunk(0));
      const { x, y } = echoBitsWebGpu({ seeds: SEEDS, stream, draw, batch: 5, length: 300, echoStep: 3 });
      const [gx, gy] = [await read(x), await read(y!)];
      datas.forEach((d, s) => {
        assert.equal(d.draw, draw);
        const at = s * 5 * 300;
        assert.equal(firstDiff(gx.subarray(at, at + 1500), d.xBatch, 5, 300), "", `x ${stream} seed ${d.seed}`);
        assert.equal(firstDiff(gy.subarray(at, at + 1500), d.yBatch, 5, 300), "", `y ${stream} seed ${d.seed}`);
      });
    }
    // A chunk straight from its offset, the target reaching back into the chunk before.
    for (const index of [0, 1, 7, 14]) {
      const { x, y } = echoBitsWebGpu({
        seeds: SEEDS,
        stream,
        draw: 2,
        batch: 5,
        length: 20,
        start: index * 20,
        echoStep: 3,
      });
      const [cx, cy] = [await read(x), await read(y!)];
      datas.forEach((d, s) => {
        const chunk = d.chunkAt(index);
        assert.deepEqual(cx.subarray(s * 100, (s + 1) * 100), chunk.x, `x ${stream} chunk ${index} seed ${d.seed}`);
        assert.deepEqual(cy.subarray(s * 100, (s + 1) * 100), chunk.y, `y ${stream} chunk ${index} seed ${d.seed}`);
      });
    }
  }
});

gpuTest(
  "a dispatch laid out in two dimensions (more workgroups than one dimension takes) covers every row",
  async () => {
    // 4 workgroups per dimension force the 2-D layout on a small case: 40 replicas x 5 rows x 3 blocks = 600 threads,
    // 10 workgroups of 64, laid out 4 x 3.
    const seeds = Array.from({ length: 40 }, (_, i) => (i * 0x9e3779b9) >>> 0);
    const { x, y } = echoBitsWebGpu({
      seeds,
      stream: "test",
      draw: 1,
      batch: 5,
      length: 257,
      echoStep: 5,
      maxWorkgroupsPerDimension: 4,
    });
    const want = expected(seeds, "test", seeds.map(() => 1), 5, 257, 0, 5);
    assert.equal(firstDiff(await read(x), want.x, 5, 257), "", "x");
    assert.equal(firstDiff(await read(y!), want.y, 5, 257), "", "y");
  },
);

gpuTest("outputs past the adapter's binding limit are refused, naming how many replicas fit", () => {
  const seeds = Array(2048).fill(1);
  assert.throws(
    () => echoBitsWebGpu({ seeds, stream: "train", draw: 0, batch: 1024, length: 1024 }),
    { name: "RangeError", message: /at most \d+ replicas fit/ },
  );
  assert.throws(() => echoBitsWebGpu({ seeds: [1], stream: "train", draw: [0, 1], batch: 1, length: 1 }), RangeError);
});
