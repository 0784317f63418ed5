/**
 * Echo 10 steps late with 60 hidden units (notebook cells 20-21): does width add memory?
 *
 *   deno task exp:echo10-h60 [--seeds 8] [--help]
 */
import { runExperiment } from "../lib/experiment.ts";

await runExperiment({
  name: "echo10-h60",
  task: "exp:echo10-h60",
  about: "Echo 10 steps late with 60 hidden units (notebook cells 20-21): does width add memory?",
  knobs: {
    echoStep: 10,
    hidden: 60, // We increase the number of units
    layers: 1,
    epochs: 20, // with some more epochs to help the model
    batch: 5,
    series: 20_000,
    bptt: 20,
    lr: 0.001,
    seed: 1,
  },
});
