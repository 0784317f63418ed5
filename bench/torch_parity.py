"""The notebook's own PyTorch code over many seeds, one CSV row per seed, for
`deno task exp:parity` (the echolab side runs the same configurations).

EchoData, SimpleRNN, train and test come from bench/notebook_torch.py unchanged;
this adds an LSTM option (nn.LSTM in place of nn.RNN, same Linear head) and a
fixed-series option (reading chunk 0 does not draw a new series, for the
training and the test data alike).

Each seed runs alone with torch.set_num_threads(1), torch.manual_seed(seed)
and np.random.seed(seed), then appends its row (flushed and synced) to --out,
so an interrupted run keeps every finished seed. Seeds already in --out for
this config and mode are skipped.

Run: /usr/bin/python3 bench/torch_parity.py --config echo3-rnn-h4 --echo 3
       --hidden 4 --cell rnn --epochs 5 --mode regen|fixed --seeds 1,2,3 --out FILE.csv
"""
import argparse
import csv
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parent_watch import exit_when_parent_dies  # noqa: E402

exit_when_parent_dies()  # a sweep's child stops when the sweep is gone, before the slow torch import

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from notebook_torch import EchoData, SimpleRNN, test, train  # noqa: E402

COLUMNS = ["side", "config", "mode", "data_generator", "seed", "train_loss", "train_acc", "test_acc", "seconds"]
BATCH, SERIES, T, LR = 5, 20_000, 20, 0.001


class FixedEchoData(EchoData):
    """EchoData whose series is drawn once, at construction: chunk 0 does not redraw."""

    def __getitem__(self, index):
        return self.x_chunks[index], self.y_chunks[index]


class LSTMState(tuple):
    """(h, c) with the in-place detach_ that the notebook's train() calls on its hidden state."""

    def detach_(self):
        for t in self:
            t.detach_()
        return self


class SimpleLSTM(SimpleRNN):
    """SimpleRNN with nn.LSTM (PyTorch's gates and initialisation) in place of nn.RNN."""

    def __init__(self, hidden):
        super().__init__(hidden)
        self.rnn = nn.LSTM(1, hidden, num_layers=1, batch_first=True)

    def forward(self, x, hidden):
        x, hidden = self.rnn(x, None if hidden is None else tuple(hidden))
        return self.linear(x), LSTMState(hidden)


def run_seed(seed, echo, hidden, cell, epochs, fixed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    data_cls = FixedEchoData if fixed else EchoData
    # The notebook's order (cells 11-12): data, then the model, then the optimizer.
    train_data = data_cls(SERIES, BATCH, echo, T)
    test_data = data_cls(SERIES, BATCH, echo, T)
    model = (SimpleLSTM if cell == "lstm" else SimpleRNN)(hidden)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LR)
    criterion = nn.BCEWithLogitsLoss()
    digits = len(train_data) * BATCH * T
    state = None
    correct, loss = 0, float("nan")
    for _ in range(epochs):
        correct, loss, state = train(model, optimizer, criterion, train_data, state, len(train_data))
    test_acc = test(model, test_data, state) / (len(test_data) * BATCH * T) * 100
    return loss, correct / digits * 100, test_acc


def done_seeds(path, config, mode):
    if not os.path.exists(path):
        return set()
    with open(path, newline="") as f:
        return {int(r["seed"]) for r in csv.DictReader(f) if r["config"] == config and r["mode"] == mode}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--echo", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--cell", choices=["rnn", "lstm"], default="rnn")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--mode", choices=["regen", "fixed"], required=True)
    p.add_argument("--seeds", required=True, help="comma-separated seeds")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",") if s]
    torch.set_num_threads(1)
    skip = done_seeds(a.out, a.config, a.mode)
    new = not os.path.exists(a.out) or os.path.getsize(a.out) == 0
    with open(a.out, "a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        if new:
            w.writeheader()
        for seed in seeds:
            if seed in skip:
                continue
            t0 = time.perf_counter()
            loss, train_acc, test_acc = run_seed(seed, a.echo, a.hidden, a.cell, a.epochs, a.mode == "fixed")
            secs = time.perf_counter() - t0
            w.writerow({
                "side": "torch", "config": a.config, "mode": a.mode, "data_generator": "numpy-mt19937", "seed": seed,
                "train_loss": f"{loss:.6f}", "train_acc": f"{train_acc:.3f}", "test_acc": f"{test_acc:.3f}",
                "seconds": f"{secs:.2f}",
            })
            f.flush()
            os.fsync(f.fileno())
            print(f"torch {a.config} {a.mode} seed {seed}: test {test_acc:.1f}% ({secs:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
