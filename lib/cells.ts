/**
 * The recurrent cells the suite implements with PyTorch's equations, and the
 * one fact about each that models, kernels and estimates share: how many gate
 * blocks its weight matrices stack. Imported by everyone, importing nothing,
 * so no module needs the model to know what a cell is.
 */

/** Recurrent cells: the notebook's ReLU RNN, LSTM, GRU (reset-after) and IRNN (identity init). */
export const CELLS = ["rnn", "lstm", "gru", "irnn"] as const;
export type CellKind = typeof CELLS[number];

/** Gate blocks stacked in PyTorch's weight matrices, rows per hidden unit: LSTM i,f,g,o; GRU r,z,n. */
export const GATES: Record<CellKind, number> = { rnn: 1, irnn: 1, lstm: 4, gru: 3 };
