/**
 * Why the plain RNN forgets: how strongly the loss at step t depends on the
 * input k steps back, mean |d loss_t / d x_(t-k)| against lag k, for each
 * cell at initialisation and after training at echo 10. A cell that can echo
 * 10 steps must keep a large gradient at lag 10.
 *
 *   deno task exp:gradients [--epochs 5] [--hidden 60] [--seeds 2]
 *
 * Writes results/gradients/gradients-<run id>.csv.
 */
import { quietTfjsWarnings, tf } from "../lib/tf.ts";
import { describeBackend } from "../lib/backend.ts";
import { flagGiven, parseOrExit, RUN_FLAGS, runCells, UsageError, useBackendOrExit } from "../lib/cli.ts";
import { assertRunsHere, configFromArgs, echoDataFor } from "../lib/experiment.ts";
import { CsvLog, newRunId } from "../lib/csv_log.ts";
import { EchoData } from "../lib/echo_data.ts";
import { type CellKind, SimpleRNN } from "../lib/models.ts";
import { makeOptimizer } from "../lib/optim.ts";
import { testEpoch, trainEpoch } from "../lib/train.ts";
import { inputGradientByLag } from "../lib/gradients.ts";
import { GRADIENT_COLUMNS } from "../lib/migrations.ts";
import { DATA_GENERATOR } from "../lib/echo_bits.ts";

const CELLS_COMPARED: CellKind[] = ["rnn", "irnn", "lstm", "gru"];
const PROBE_LENGTH = 41; // lags 0..40: twice the truncation window
const PROBE_BATCH = 20;

/** The probe measures lags 0..PROBE_LENGTH - 1, so the echo step must be one of them. */
function assertProbed(echoStep: number): void {
  if (echoStep > PROBE_LENGTH - 1) {
    throw new UsageError(
      `--echo-step must be an integer in 1..${PROBE_LENGTH - 1} for exp:gradients (the probe's lags), got ${echoStep}`,
    );
  }
}

const cfg = configFromArgs({
  name: "gradients",
  task: "exp:gradients",
  about: "Mean |d loss_t / d x_(t-k)| against lag k for each cell (or the one --cell names), at initialisation " +
    "and after training at echo 10.",
  knobs: { echoStep: 10, hidden: 60, epochs: 5, seeds: [1, 2], out: "results/gradients" },
  everyCellByDefault: true,
  // Trained in this thread (lib/train.ts directly): --threads is refused rather than ignored.
  takes: RUN_FLAGS.map((f) => f.name).filter((f) => f !== "threads"),
}, Deno.args);
parseOrExit(() => assertProbed(cfg.echoStep));
// Every cell unless --cell names one.
const cells = flagGiven(Deno.args, "cell") ? [cfg.cell] : CELLS_COMPARED;
quietTfjsWarnings();
console.log(describeBackend(await useBackendOrExit(cfg.backend)));
parseOrExit(() => assertRunsHere(cfg));
console.log(`config: ${JSON.stringify(cfg)}`);

const runId = newRunId();
const log = CsvLog.create(`${cfg.out}/${cfg.name || "gradients"}-${runId}.csv`, GRADIENT_COLUMNS);

// The probe: the same random sequences for every cell, from a zero state.
const probe = EchoData.forSeeds(cfg.seeds, {
  echoStep: cfg.echoStep,
  batchSize: PROBE_BATCH,
  seriesLength: PROBE_LENGTH,
  truncatedLength: PROBE_LENGTH,
  stream: "probe",
}).map((d) => d.chunkAt(0));
const S = cfg.seeds.length;
const stack = (k: "x" | "y") =>
  tf.tensor4d(Float32Array.from(probe.flatMap((c) => [...c[k]])), [S, PROBE_BATCH, PROBE_LENGTH, 1]);
const px = stack("x"), py = stack("y");

for (const cell of cells) {
  const model = new SimpleRNN({
    cell,
    hidden: cfg.hidden,
    layers: cfg.layers,
    seeds: cfg.seeds,
    kernel: cfg.kernel,
    identityScale: cfg.identityScale,
  });
  const record = async (phase: string, testAcc: number[]) => {
    const byLag = await inputGradientByLag(model, px, py);
    byLag.forEach((row, r) =>
      log.append(...row.map((g, lag) => ({
        run_id: runId,
        ...runCells({ ...cfg, cell }), // the flags' columns; GRADIENT_COLUMNS leaves out epochs (epochs_trained)
        data_generator: DATA_GENERATOR,
        seed: cfg.seeds[r],
        phase,
        epochs_trained: phase === "init" ? 0 : cfg.epochs,
        test_acc: testAcc[r],
        lag,
        mean_abs_grad: g,
      })))
    );
    const at = (k: number) => byLag.reduce((a, row) => a + row[k], 0) / S;
    console.log(
      `${cell} ${phase}: mean |dL/dx| at lag 0 ${at(0).toExponential(2)}, lag ${cfg.echoStep} ${
        at(cfg.echoStep).toExponential(2)
      }, lag 20 ${at(20).toExponential(2)}`,
    );
  };
  await record("init", Array(S).fill(""));

  const train = echoDataFor(cfg, "train"), test = echoDataFor(cfg, "test");
  const opt = makeOptimizer(cfg.optimizer, model.variables, cfg.lr);
  let state: tf.Tensor3D[] | null = null;
  for (let e = 0; e < cfg.epochs; e++) state = (await trainEpoch(model, opt, train, state, { clip: cfg.clip })).state;
  const t = await testEpoch(model, test, state);
  tf.dispose(t.state);
  await record("trained", t.correct.map((c) => (c / t.digits) * 100));
  console.log(`${cell}: test accuracy ${t.correct.map((c) => ((c / t.digits) * 100).toFixed(1)).join(", ")}%`);
  opt.dispose();
  model.dispose();
}
console.log(`csv: ${log.path}`);
