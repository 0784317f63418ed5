/**
 * The replicas of one run as something that trains: {@linkcode
 * ReplicaTrainer}, the notebook's train / test / echo-check loop over a block
 * of seeds with its model, optimizer, data and carried state, and
 * {@linkcode LocalTrainer}, which runs it in this thread. lib/threads.ts
 * splits the seeds over workers that each run a LocalTrainer; lib/experiment.ts
 * prints and logs what either returns. Not the printing nor the CSV.
 */
import { tf } from "./tf.ts";
import type { RunConfig } from "./cli.ts";
import { EchoData } from "./echo_data.ts";
import { SimpleRNN } from "./models.ts";
import { makeOptimizer, type Optimizer } from "./optim.ts";
import { type EchoCheck, echoCheck, type OnStep, testEpoch, trainEpoch } from "./train.ts";

/** One training epoch of every replica, in seed order. */
export interface TrainTally {
  /** Digits predicted right. */
  correct: number[];
  /** Loss of the last chunk. */
  loss: number[];
  /** Replicas still training (false from the step whose loss was not finite). */
  alive: boolean[];
  /** Digits seen per replica. */
  digits: number;
}

/** The test pass of every replica, in seed order. */
export interface TestTally {
  correct: number[];
  digits: number;
}

/**
 * The replicas of a run, trained epoch by epoch: each call returns every
 * replica's numbers in seed order, whichever thread computed them. `onStep`
 * sees running means over the replicas (those alive, in training).
 */
export interface ReplicaTrainer {
  /** Parameters of one replica. */
  readonly parameters: number;
  /** The recurrence the kernel runs ("fused" or "op"), for the CSV's `kernel` column. */
  readonly recurrence: string;
  train(onStep?: OnStep): Promise<TrainTally>;
  test(onStep?: OnStep): Promise<TestTally>;
  /** The notebook's random-sequence check from a zero state, `length` digits. */
  echoCheck(length: number): Promise<EchoCheck[]>;
  /** Frees every tensor (and worker) it holds. */
  dispose(): Promise<void>;
}

/** Each replica's echo data for a run configuration; `stream` keeps train and test data apart. */
export function echoDataFor(cfg: RunConfig, stream: string): EchoData[] {
  return EchoData.forSeeds(cfg.seeds, {
    echoStep: cfg.echoStep,
    batchSize: cfg.batch,
    seriesLength: cfg.series,
    truncatedLength: cfg.bptt,
    stream,
    fixedSeries: cfg.fixedSeries,
  });
}

/**
 * `cfg.seeds` trained in this thread on the tfjs backend loaded here: the
 * model, optimizer, train and test data of those seeds, and the state
 * carried from epoch to epoch and into the test. Allocating the data throws a
 * RangeError where it does not fit.
 */
export class LocalTrainer implements ReplicaTrainer {
  readonly #cfg: RunConfig;
  readonly #model: SimpleRNN;
  readonly #optimizer: Optimizer;
  readonly #train: EchoData[];
  readonly #test: EchoData[];
  readonly #alive: boolean[];
  #state: tf.Tensor3D[] | null = null;

  constructor(cfg: RunConfig) {
    this.#cfg = cfg;
    this.#train = echoDataFor(cfg, "train");
    this.#test = echoDataFor(cfg, "test");
    this.#model = new SimpleRNN({
      cell: cfg.cell,
      hidden: cfg.hidden,
      layers: cfg.layers,
      seeds: cfg.seeds,
      identityScale: cfg.identityScale,
      kernel: cfg.kernel,
    });
    this.#optimizer = makeOptimizer(cfg.optimizer, this.#model.variables, cfg.lr, cfg.kernel);
    this.#alive = Array(cfg.seeds.length).fill(true);
  }

  get parameters(): number {
    return this.#model.parameterCount;
  }

  /** Replicas it trains. */
  get replicas(): number {
    return this.#alive.length;
  }

  /** Replicas still training (during an epoch too: the loop marks a diverged one at once). */
  get alive(): number {
    return this.#alive.filter(Boolean).length;
  }

  get recurrence(): string {
    return this.#model.kernelChoice().kernel.recurrence;
  }

  async train(onStep?: OnStep): Promise<TrainTally> {
    const res = await trainEpoch(this.#model, this.#optimizer, this.#train, this.#state, {
      clip: this.#cfg.clip,
      alive: this.#alive,
      onStep,
    });
    this.#state = res.state;
    return { correct: res.correct, loss: res.loss, alive: [...this.#alive], digits: res.digits };
  }

  async test(onStep?: OnStep): Promise<TestTally> {
    const res = await testEpoch(this.#model, this.#test, this.#state, onStep);
    this.#state = res.state;
    return { correct: res.correct, digits: res.digits };
  }

  echoCheck(length: number): Promise<EchoCheck[]> {
    return echoCheck(this.#model, this.#cfg.seeds, this.#cfg.echoStep, length);
  }

  dispose(): Promise<void> {
    if (this.#state) tf.dispose(this.#state);
    this.#state = null;
    this.#optimizer.dispose();
    this.#model.dispose();
    return Promise.resolve();
  }
}
