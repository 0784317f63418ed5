/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) so that a seed
 * reproduces data and initialisation exactly on every platform. Streams
 * derived with {@linkcode Rng.derive} are independent of each other, so the
 * data of a run does not shift when its initialisation draws more numbers.
 */
export class Rng {
  #s = new Uint32Array(4);

  /** Seeds the generator from any 32-bit integer and an optional stream name. */
  constructor(seed: number, stream = "") {
    let x = (seed >>> 0) ^ hashString(stream);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** A new generator for a named sub-stream of the same seed. */
  static derive(seed: number, stream: string): Rng {
    return new Rng(seed, stream);
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A fair bit, 0 or 1. */
  bit(): number {
    return this.nextUint32() >>> 31;
  }

  /** A float drawn from U(lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
