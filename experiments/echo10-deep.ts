/**
 * Echo 10 steps late with 6 stacked layers of 60 units (notebook cells 22-24, LongerRNN).
 *
 *   deno task exp:echo10-deep [--seeds 8] [--help]
 */
import { runExperiment } from "../lib/experiment.ts";

await runExperiment({
  name: "echo10-deep",
  task: "exp:echo10-deep",
  about: "Echo 10 steps late with 6 stacked layers of 60 units (notebook cells 22-24, LongerRNN).",
  knobs: {
    echoStep: 10,
    hidden: 60,
    layers: 6, // LongerRNN: num_layers=6
    epochs: 20, // with some more epochs to help the model
    batch: 5,
    series: 20_000,
    bptt: 20,
    lr: 0.001,
    seed: 1,
  },
});
