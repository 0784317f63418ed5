// mutants: fast 1
/**
 * The counter-based generator of lib/echo_bits.ts: Philox-4x32-10 against
 * Random123's known answers, the bit layout, and that EchoData's series is
 * exactly those bits, so a replica's data is a pure function of its seed,
 * stream, draw, row and step.
 */
import { assert } from "../_assert.ts";
import { echoBits, philox4x32, streamKey } from "../../lib/echo_bits.ts";
import { EchoData } from "../../lib/echo_data.ts";
import { echoBitsWasm } from "../../lib/kernels/cpu/data.ts";

const hex = (words: Uint32Array) => [...words].map((w) => w.toString(16).padStart(8, "0")).join(" ");

Deno.test("philox4x32-10 gives Random123's known answers (kat_vectors)", () => {
  const out = new Uint32Array(4);
  const kat: [number[], number[], string][] = [
    [[0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], "408f276d 41c83b0e a20bc7c6 6d5451fd"],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], "d16cfe09 94fdcceb 5001e420 24126ea1"],
  ];
  for (const [c, k, want] of kat) {
    philox4x32(c[0], c[1], c[2], c[3], k[0], k[1], out);
    assert.equal(hex(out), want);
  }
});

Deno.test("bit t of a row is bit t % 32 of word (t / 32) % 4 of block t / 128, counter [block, row, draw, 0]", () => {
  const from = { seed: 12345, stream: streamKey("train"), draw: 7, row: 3 };
  const bits = new Uint8Array(300);
  echoBits(from, 300, bits);
  const words = new Uint32Array(4);
  for (let t = 0; t < 300; t++) {
    philox4x32(t >> 7, from.row, from.draw, 0, from.seed, from.stream, words);
    assert.equal(bits[t], (words[(t >> 5) & 3] >>> (t & 31)) & 1, `bit ${t}`);
  }
  // A shorter row is a prefix: a bit does not depend on the row's length.
  const short = new Uint8Array(77);
  echoBits(from, 77, short);
  assert.deepEqual(short, bits.subarray(0, 77));
});

Deno.test("seed, stream, draw and row each give other bits; no coordinate aliases another", () => {
  const base = { seed: 1, stream: streamKey("train"), draw: 1, row: 1 };
  const row = (over: Partial<typeof base>) => {
    const b = new Uint8Array(256);
    echoBits({ ...base, ...over }, 256, b);
    return b.join("");
  };
  const seen = new Map<string, string>();
  for (
    const [name, over] of Object.entries({
      base: {},
      seed: { seed: 2 },
      stream: { stream: streamKey("test") },
      draw: { draw: 2 },
      row: { row: 2 },
      "draw and row swapped": { draw: 2, row: 0 },
      "seed 0 row 1": { seed: 0 },
    })
  ) {
    const bits = row(over);
    assert.ok(!seen.has(bits), `${name} repeats ${seen.get(bits)}`);
    seen.set(bits, name);
  }
  assert.notEqual(streamKey("train"), streamKey("test"));
});

Deno.test("EchoData's draw n, row b is echoBits(seed, stream, n, b): the constructor's draw 0, then one per chunk 0", () => {
  const opts = { echoStep: 3, batchSize: 4, seriesLength: 300, truncatedLength: 20, seed: 42, stream: "test" };
  const d = new EchoData(opts);
  const want = new Uint8Array(300);
  for (let draw = 0; draw < 3; draw++) {
    assert.equal(d.draw, draw);
    for (let b = 0; b < 4; b++) {
      echoBits({ seed: 42, stream: streamKey("test"), draw, row: b }, 300, want);
      assert.deepEqual(d.xBatch.subarray(b * 300, (b + 1) * 300), want, `draw ${draw} row ${b}`);
    }
    d.chunk(0);
  }
  // A replica sees the same data alone as beside others.
  const [alone] = EchoData.forSeeds([42], opts);
  const many = EchoData.forSeeds([7, 42, 9], opts);
  assert.deepEqual(many[1].chunk(0), alone.chunk(0));
});

Deno.test("the wasm SIMD generator gives every bit of the reference (rows of 1 to 2,000 bits, any seed, stream, draw, row)", () => {
  const seeds = [0, 1, 5, 0x7fffffff, 0x80000000, 0xffffffff];
  const streams = ["train", "test", "echo-check"].map(streamKey);
  let rows = 0;
  for (const length of [1, 31, 32, 127, 128, 129, 511, 512, 513, 2000]) {
    for (const seed of seeds) {
      for (const stream of streams) {
        for (const [draw, row] of [[0, 0], [1, 4], [123456, 0xffffffff]]) {
          const from = { seed, stream, draw, row };
          const want = new Uint8Array(length + 2), got = new Uint8Array(length + 2).fill(7);
          echoBits(from, length, want, 1);
          want[0] = want[length + 1] = 7;
          echoBitsWasm(from, length, got, 1);
          assert.deepEqual(got, want, `seed ${seed} stream ${stream} draw ${draw} row ${row} length ${length}`);
          rows++;
        }
      }
    }
  }
  assert.equal(rows, 10 * 6 * 3 * 3);
});
