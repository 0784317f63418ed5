/**
 * The echo task's random bits, defined once: a counter-based generator
 * (Philox-4x32-10, Salmon et al., SC 2011) in which every bit is a pure
 * function of (the replica's seed, the stream, the series draw, the batch
 * row, the time step). A replica therefore sees the same bits whatever runs
 * beside it, on every backend: this plain TypeScript is the reference that
 * the wasm SIMD version (`wasm/src/data.ts`) and the WGSL version are tested
 * against bit for bit.
 *
 * Bit t of a row is bit `t % 32` of word `(t / 32) % 4` of
 * `philox4x32_10(counter = [t / 128, row, draw, 0], key = [seed, streamKey(stream)])`.
 */

/**
 * The generator's name and version, written in every CSV row it made (column
 * `data_generator`) and in the capacity grid's id, so that rows from different
 * generators are never merged or summarised together. Bump the version when
 * any bit for any coordinate changes.
 */
export const DATA_GENERATOR = "philox4x32-10.v1";

/** The generator of the runs published before this module (xoshiro128** streams, lib/rng.ts), for migrated rows. */
export const LEGACY_DATA_GENERATOR = "xoshiro128ss.v0";

/** Every generator a CSV row of echolab's may name: this one, and the one migrated rows ran on. */
export const DATA_GENERATORS = [DATA_GENERATOR, LEGACY_DATA_GENERATOR] as const;

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** The high 32 bits of the 64-bit product of two uint32, exactly (JavaScript numbers hold 53 bits). */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const lolo = aLo * bLo, mid1 = aHi * bLo, mid2 = aLo * bHi;
  const carry = ((lolo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/**
 * Philox-4x32 with 10 rounds: four uint32 of output from a 128-bit counter and
 * a 64-bit key, written to `out[0..4)`. Checked against Random123's known answers.
 */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array) {
  c0 >>>= 0, c1 >>>= 0, c2 >>>= 0, c3 >>>= 0, k0 >>>= 0, k1 >>>= 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/** The key's second word for a named stream ("train", "test", "echo-check"): FNV-1a of `echo-data:<stream>`. */
export function streamKey(stream: string): number {
  let h = 0x811c9dc5;
  for (const ch of `echo-data:${stream}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Where a row of bits comes from: the replica's seed, the stream, the series draw and the batch row. */
export interface BitRow {
  /** The replica's seed, taken as a uint32. */
  seed: number;
  /** The stream's key word, {@linkcode streamKey}. */
  stream: number;
  /** Which series of the stream: 0 for the first drawn, counting up. */
  draw: number;
  /** The batch row. */
  row: number;
}

/**
 * Writes bits 0..length-1 of a row, one 0 or 1 per byte, to `out` from `at`.
 *
 * @example
 * ```ts
 * import { echoBits, streamKey } from "./echo_bits.ts";
 * const bits = new Uint8Array(8);
 * echoBits({ seed: 5, stream: streamKey("train"), draw: 0, row: 0 }, 8, bits);
 * console.assert(bits.every((b) => b === 0 || b === 1));
 * ```
 */
export function echoBits(from: BitRow, length: number, out: Uint8Array, at = 0): void {
  const words = new Uint32Array(4);
  for (let block = 0; block * 128 < length; block++) {
    philox4x32(block, from.row, from.draw, 0, from.seed, from.stream, words);
    const end = Math.min(128, length - block * 128);
    for (let i = 0; i < end; i++) out[at + block * 128 + i] = (words[i >>> 5] >>> (i & 31)) & 1;
  }
}
