/**
 * The arithmetic of one training step, for comparing a measured speed with
 * the machine's limit (`deno task bench`): multiply-adds per replica-step.
 * Counts only the matmuls' multiply-adds, which are nearly all of a step's
 * arithmetic at the suite's sizes; gate functions, the loss and the optimizer
 * are left out.
 */
import { type CellKind, GATES } from "./cells.ts";

/** The shape of one replica's training step on the echo task. */
export interface StepShape {
  cell: CellKind;
  /** Hidden units per layer. */
  hidden: number;
  layers: number;
  /** Sequences per step. */
  batch: number;
  /** Time steps per step (the truncated length). */
  bptt: number;
  /** Input features (the echo task's 1). */
  input?: number;
  /** Outputs of the linear read-out (the echo task's 1). */
  output?: number;
}

/**
 * Multiply-adds of one replica's step, forward and backward, per (batch row,
 * time step) x batch x bptt:
 * - forward: each layer's gate pre-activations, G x H x (inputs + H) with G
 *   the cell's gate blocks (rnn 1, lstm 4, gru 3), plus the read-out H x output;
 * - backward: the weight gradients, as many as the forward (dW = dY^T X for
 *   each product), and the gradients of each product's input, as many again
 *   less the first layer's input-to-gate product (nothing needs the data's
 *   gradient).
 *
 * echo3 (rnn, H 4, 1 layer, batch 5, bptt 20): 100 x (2 x 24 + 20) = 6,800.
 */
export function macsPerReplicaStep({ cell, hidden, layers, batch, bptt, input = 1, output = 1 }: StepShape): number {
  const g = GATES[cell];
  let forward = hidden * output;
  for (let l = 0; l < layers; l++) forward += g * hidden * ((l === 0 ? input : hidden) + hidden);
  const inputGrads = forward - g * hidden * input;
  return batch * bptt * (2 * forward + inputGrads);
}
