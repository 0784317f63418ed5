"""Success rate of the notebook's own PyTorch code over seeds, for comparison
with `--seeds N` runs of this suite (seeds differ in meaning: NumPy/torch RNGs).

Run: /usr/bin/python3 bench/torch_success.py ECHO HIDDEN EPOCHS N_SEEDS
Prints one line per seed (test accuracy %) and the count reaching >= 99%.
"""
import sys

import numpy as np
import torch

from notebook_torch import setup, test, train

echo, hidden, epochs, n = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(1)
ok = 0
for seed in range(1, n + 1):
    torch.manual_seed(seed)
    np.random.seed(seed)
    model, opt, crit, train_data, test_data = setup(echo, hidden)
    hidden_state = None
    for _ in range(epochs):
        _, _, hidden_state = train(model, opt, crit, train_data, hidden_state, len(train_data))
    acc = test(model, test_data, hidden_state) / (len(test_data) * 5 * 20) * 100
    ok += acc >= 99
    print(f"seed {seed}: test {acc:.1f}%", flush=True)
print(f"success: {ok}/{n} seeds reached >= 99% test accuracy")
