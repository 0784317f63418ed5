/**
 * Echo 10 steps late with the same 4-unit RNN, 20 epochs (notebook cells 17-19).
 *
 *   deno task exp:echo10-h4 [--seeds 8] [--help]
 */
import { runExperiment } from "../lib/experiment.ts";

await runExperiment({
  name: "echo10-h4",
  task: "exp:echo10-h4",
  about: "Echo 10 steps late with the same 4-unit RNN, 20 epochs (notebook cells 17-19).",
  knobs: {
    echoStep: 10,
    hidden: 4,
    layers: 1,
    epochs: 20, // with some more epochs to help the model
    batch: 5,
    series: 20_000,
    bptt: 20,
    lr: 0.001,
    seed: 1,
  },
});
