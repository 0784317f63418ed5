// The echo task's bits (Philox-4x32-10, lib/echo_bits.ts) in f32x4 SIMD, four counter blocks at once.
// Build: `deno task build:wasm` (writes lib/kernels/cpu/data_wasm.ts); tests/data/echo_bits_test.ts checks every
// bit against the TypeScript reference, lib/echo_bits.ts, which defines them.
//
// Bit t of a row is bit t % 32 of word (t / 32) % 4 of philox(counter [t / 128, row, draw, 0], key [seed, stream]).

const M0: u32 = 0xd2511f53;
const M1: u32 = 0xcd9e8d57;
const W0: u32 = 0x9e3779b9;
const W1: u32 = 0xbb67ae85;

/** The high words of the 64-bit lane products a * b of four uint32 lanes. */
@inline
function mulhi(a: v128, b: v128): v128 {
  const lo = i64x2.extmul_low_i32x4_u(a, b);
  const hi = i64x2.extmul_high_i32x4_u(a, b);
  return v128.shuffle<i32>(lo, hi, 1, 3, 5, 7);
}

/** Bit masks 1, 2, 4, ... 128, twice: byte i of a splatted word selects its bit i % 8. */
const BIT_MASKS: v128 = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
const ONES: v128 = i8x16.splat(1);

/** Writes the 32 bits of `word`, LSB first, as 32 bytes of 0 or 1 at `out`. */
@inline
function unpackWord(word: u32, out: usize): void {
  const w = i32x4.splat(word);
  const lo = i8x16.swizzle(w, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const hi = i8x16.swizzle(w, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  v128.store(out, v128.and(i8x16.ne(v128.and(lo, BIT_MASKS), i8x16.splat(0)), ONES));
  v128.store(out + 16, v128.and(i8x16.ne(v128.and(hi, BIT_MASKS), i8x16.splat(0)), ONES));
}

/**
 * Writes bits 0 .. 512 * ceil(length / 512) - 1 of the row (seed, stream, draw, row), one byte each, at `out`:
 * whole groups of four 128-bit blocks, so the caller reserves that much and reads the first `length`.
 */
export function echoBits(seed: u32, stream: u32, draw: u32, row: u32, length: i32, out: usize): void {
  for (let block: i32 = 0; block * 128 < length; block += 4) {
    let c0 = i32x4(block, block + 1, block + 2, block + 3);
    let c1 = i32x4.splat(row);
    let c2 = i32x4.splat(draw);
    let c3 = i32x4.splat(0);
    let k0: u32 = seed;
    let k1: u32 = stream;
    const m0 = i32x4.splat(M0), m1 = i32x4.splat(M1);
    for (let round = 0; round < 10; round++) {
      const hi0 = mulhi(m0, c0), lo0 = i32x4.mul(m0, c0);
      const hi1 = mulhi(m1, c2), lo1 = i32x4.mul(m1, c2);
      const n0 = v128.xor(v128.xor(hi1, c1), i32x4.splat(k0));
      const n2 = v128.xor(v128.xor(hi0, c3), i32x4.splat(k1));
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      k0 += W0;
      k1 += W1;
    }
    // Lane j holds block `block + j`: its words c0[j], c1[j], c2[j], c3[j] are its bits 0-31, 32-63, 64-95, 96-127.
    for (let j = 0; j < 4; j++) {
      const at = out + <usize>((block + j) * 128);
      unpackWord(i32x4.extract_lane(c0, 0), at);
      unpackWord(i32x4.extract_lane(c1, 0), at + 32);
      unpackWord(i32x4.extract_lane(c2, 0), at + 64);
      unpackWord(i32x4.extract_lane(c3, 0), at + 96);
      c0 = v128.shuffle<i32>(c0, c0, 1, 2, 3, 0);
      c1 = v128.shuffle<i32>(c1, c1, 1, 2, 3, 0);
      c2 = v128.shuffle<i32>(c2, c2, 1, 2, 3, 0);
      c3 = v128.shuffle<i32>(c3, c3, 1, 2, 3, 0);
    }
  }
}
