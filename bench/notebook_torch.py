"""PyTorch baseline for `deno task bench`: the notebook's own code (EchoData,
SimpleRNN, train loop, RMSprop) timed on this machine with one thread.

Prints one JSON object: ms per training step for the echo3 (H 4) and
echo10-h60 (H 60) models, and the end-to-end seconds of the notebook's echo3
section (5 epochs, test pass, random-sequence check).
Run: /usr/bin/python3 bench/notebook_torch.py [steps]
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(1)
np.random.seed(1)


class EchoData:  # res/sequential_tasks.py, as the notebook uses it
    def __init__(self, series_length, batch_size, echo_step, truncated_length):
        self.series_length, self.truncated_length = series_length, truncated_length
        self.n_batches = series_length // truncated_length
        self.echo_step, self.batch_size = echo_step, batch_size
        self.generate_new_series()
        self.prepare_batches()

    def __getitem__(self, index):
        if index == 0:
            self.generate_new_series()
            self.prepare_batches()
        return self.x_chunks[index], self.y_chunks[index]

    def __len__(self):
        return self.n_batches

    def generate_new_series(self):
        x = np.random.choice(2, size=(self.batch_size, self.series_length), p=[0.5, 0.5])
        y = np.roll(x, self.echo_step, axis=1)
        y[:, 0:self.echo_step] = 0
        self.x_batch, self.y_batch = x, y

    def prepare_batches(self):
        x = np.expand_dims(self.x_batch, axis=-1)
        y = np.expand_dims(self.y_batch, axis=-1)
        self.x_chunks = np.split(x, self.n_batches, axis=1)
        self.y_chunks = np.split(y, self.n_batches, axis=1)


class SimpleRNN(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.RNN(1, hidden, num_layers=1, nonlinearity='relu', batch_first=True)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, x, hidden):
        x, hidden = self.rnn(x, hidden)
        return self.linear(x), hidden


def train(model, optimizer, criterion, data, hidden, steps):
    model.train()
    correct = 0
    for batch_idx in range(steps):
        x, y = data[batch_idx]
        x, y = torch.from_numpy(x).float(), torch.from_numpy(y).float()
        optimizer.zero_grad()
        if hidden is not None:
            hidden.detach_()
        logits, hidden = model(x, hidden)
        loss = criterion(logits, y)
        loss.backward()
        optimizer.step()
        correct += ((torch.sigmoid(logits) > 0.5) == y.byte()).int().sum().item()
    return correct, loss.item(), hidden


def test(model, data, hidden):
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch_idx in range(len(data)):
            x, y = data[batch_idx]
            x, y = torch.from_numpy(x).float(), torch.from_numpy(y).float()
            logits, hidden = model(x, hidden)
            correct += ((torch.sigmoid(logits) > 0.5) == y.byte()).int().sum().item()
    return correct


def setup(echo, hidden):
    train_data = EchoData(20_000, 5, echo, 20)
    test_data = EchoData(20_000, 5, echo, 20)
    model = SimpleRNN(hidden)
    return model, torch.optim.RMSprop(model.parameters(), lr=0.001), nn.BCEWithLogitsLoss(), train_data, test_data


def ms_per_step(echo, hidden, steps):
    model, opt, crit, data, _ = setup(echo, hidden)
    train(model, opt, crit, data, None, 50)
    t0 = time.perf_counter()
    train(model, opt, crit, data, None, steps)
    return (time.perf_counter() - t0) / steps * 1000


def echo3_end_to_end():
    t0 = time.perf_counter()
    model, opt, crit, train_data, test_data = setup(3, 4)
    hidden = None
    for _ in range(5):
        _, _, hidden = train(model, opt, crit, train_data, hidden, len(train_data))
    test(model, test_data, hidden)
    x = torch.empty(1, 100, 1).random_(2)
    out, _ = model(x, None)
    expected = np.append(x.view(1, -1).int().numpy()[:, -3:], x.view(1, -1).int().numpy()[:, :-3])
    int(((out > 0).view(-1).int().numpy()[3:] == expected[3:]).sum())
    return time.perf_counter() - t0


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(json.dumps({
        "torch": torch.__version__,
        "echo3_ms_per_step": ms_per_step(3, 4, steps),
        "echo10_h60_ms_per_step": ms_per_step(10, 60, steps),
        "echo3_end_to_end_s": echo3_end_to_end(),
    }))
