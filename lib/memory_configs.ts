/**
 * The remedies `exp:memory` compares at echo 10: flags for the experiment
 * script per configuration id, and the order tables and charts list them in.
 */

/** Flags per configuration, longest-running first so the process pool stays busy. */
export const MEMORY_CONFIGS: Record<string, string[]> = {
  "rnn-6x60": ["--cell", "rnn", "--hidden", "60", "--layers", "6"], // the notebook's three failures
  "lstm-h60": ["--cell", "lstm", "--hidden", "60"], // gated memory
  "gru-h60": ["--cell", "gru", "--hidden", "60"],
  "rnn-h60": ["--cell", "rnn", "--hidden", "60"],
  "irnn-h60": ["--cell", "irnn", "--hidden", "60"], // identity init (Le et al. 2015)
  "rnn-h60-bptt40": ["--cell", "rnn", "--hidden", "60", "--bptt", "40"], // a longer truncation window
  "rnn-h60-clip1": ["--cell", "rnn", "--hidden", "60", "--clip", "1"], // gradient clipping (Pascanu et al. 2013)
  "lstm-h4": ["--cell", "lstm", "--hidden", "4"],
  "gru-h4": ["--cell", "gru", "--hidden", "4"],
  "rnn-h4": ["--cell", "rnn", "--hidden", "4"],
};

/** Reading order: the notebook's three, then each remedy. */
export const MEMORY_ORDER = [
  "rnn-h4",
  "rnn-h60",
  "rnn-6x60",
  "lstm-h4",
  "lstm-h60",
  "gru-h4",
  "gru-h60",
  "irnn-h60",
  "rnn-h60-bptt40",
  "rnn-h60-clip1",
];
