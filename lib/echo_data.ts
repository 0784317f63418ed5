/**
 * The notebook's `EchoData`: a seeded random bit series cut into batch rows
 * and chunks of T steps, the target the input shifted by the echo step with
 * zero fill, a new series drawn at chunk 0 of every epoch unless fixed. Pure
 * data in Float32Arrays; no tensors, no model.
 */
import { streamKey } from "./echo_bits.ts";
import { echoBitsWasm } from "./kernels/cpu/data.ts";

/** Options of {@linkcode EchoData}, named as in the notebook's `EchoData`. */
export interface EchoDataOptions {
  /** How many steps late the target repeats the input (>= 1). */
  echoStep: number;
  /** Independent bit streams per series. */
  batchSize: number;
  /** Length of each bit stream; must be a multiple of `truncatedLength`. */
  seriesLength: number;
  /** Chunk length T of truncated backpropagation through time. */
  truncatedLength: number;
  /** Seed of the bit streams. */
  seed: number;
  /** Name of the random stream, so train and test data of one seed differ (lib/echo_bits.ts). Default "train". */
  stream?: string;
  /** Keep one series for every epoch instead of drawing a new one at chunk 0. Default false. */
  fixedSeries?: boolean;
}

/** One chunk: inputs and targets, each `[batch, T, 1]` flattened row-major. */
export interface Chunk {
  x: Float32Array;
  y: Float32Array;
}

/**
 * The echo task of the notebook's `res/sequential_tasks.py`: x is i.i.d. fair
 * bits `[batch, series]`, y is x shifted right by `echoStep` with zeros in
 * front, and the series is read in chunks of T steps. As upstream, the
 * constructor draws a series (the one the preview shows) and reading chunk 0
 * draws a brand-new one, so every epoch sees fresh data. Draw n of a seed's
 * stream is the same bits wherever it is made (`lib/echo_bits.ts`).
 */
export class EchoData {
  readonly echoStep: number;
  readonly batchSize: number;
  readonly seriesLength: number;
  readonly truncatedLength: number;
  readonly fixedSeries: boolean;
  /** The current series, `[batch, series]` row-major. */
  xBatch: Uint8Array;
  /** The current targets, `[batch, series]` row-major. */
  yBatch: Uint8Array;
  readonly seed: number;
  /** The stream's key word (lib/echo_bits.ts `streamKey`). */
  readonly stream: number;
  /** Which series of the stream is current: 0 the constructor's, one more at each new draw. */
  draw = -1;

  constructor(opts: EchoDataOptions) {
    const { echoStep, batchSize, seriesLength, truncatedLength } = opts;
    for (const [name, v] of Object.entries({ echoStep, batchSize, seriesLength, truncatedLength })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`EchoData: ${name} must be an integer >= 1, got ${v}`);
    }
    if (seriesLength % truncatedLength !== 0) {
      throw new RangeError(
        `EchoData: seriesLength ${seriesLength} is not divisible by truncatedLength ${truncatedLength}`,
      );
    }
    this.echoStep = echoStep;
    this.batchSize = batchSize;
    this.seriesLength = seriesLength;
    this.truncatedLength = truncatedLength;
    this.fixedSeries = opts.fixedSeries ?? false;
    this.seed = opts.seed;
    this.stream = streamKey(opts.stream ?? "train");
    this.xBatch = new Uint8Array(batchSize * seriesLength);
    this.yBatch = new Uint8Array(batchSize * seriesLength);
    this.generateNewSeries();
  }

  /** One EchoData per seed (one per replica), the other options shared. */
  static forSeeds(seeds: number[], opts: Omit<EchoDataOptions, "seed">): EchoData[] {
    return seeds.map((seed) => new EchoData({ ...opts, seed }));
  }

  /** Number of chunks in a series: seriesLength / T. */
  get length(): number {
    return this.seriesLength / this.truncatedLength;
  }

  /** Draws a new series of bits and its echoed targets. */
  generateNewSeries(): void {
    const { batchSize: B, seriesLength: L, echoStep: k, seed, stream } = this;
    const draw = ++this.draw;
    // The wasm SIMD generator: the bits of lib/echo_bits.ts (tests/data/echo_bits_test.ts), five times faster.
    for (let row = 0; row < B; row++) echoBitsWasm({ seed, stream, draw, row }, L, this.xBatch, row * L);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) this.yBatch[b * L + t] = t >= k ? this.xBatch[b * L + t - k] : 0;
    }
  }

  /** Chunk `index` of the series; index 0 first draws a new series unless `fixedSeries`. */
  chunk(index: number): Chunk {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`EchoData: chunk index must be in 0..${this.length - 1}, got ${index}`);
    }
    if (index === 0 && !this.fixedSeries) this.generateNewSeries();
    return this.chunkAt(index);
  }

  /** Chunk `index` of the current series, drawing nothing new (the notebook's `x_chunks[index]`). */
  chunkAt(index: number): Chunk {
    const { batchSize: B, seriesLength: L, truncatedLength: T } = this;
    const x = new Float32Array(B * T);
    const y = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        x[b * T + t] = this.xBatch[b * L + index * T + t];
        y[b * T + t] = this.yBatch[b * L + index * T + t];
      }
    }
    return { x, y };
  }
}
