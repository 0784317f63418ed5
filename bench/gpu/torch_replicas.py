"""PyTorch on a GPU for bench/gpu/run.sh: the notebook's training step, timed
for 1 to 16,384 independent replicas, as the baseline for echolab's WebGPU rows.

Two implementations, both with the notebook's sizes (batch 5, 20 steps per
chunk, BCEWithLogits, RMSprop lr 0.001) and PyTorch's defaults:
- `notebook nn.RNN`: the notebook's own model (cuDNN's ReLU RNN), one replica;
- `batched bmm`: S replicas as stacked weights [S, H, H], the ReLU recurrence
  written with torch.baddbmm, the loss the sum of each replica's mean (so each
  replica's gradient is its own, as in echolab), RMSprop over the stacks.

Prints one CSV row per (implementation, model, replicas) on stdout:
impl,device,model,replicas,ms_per_step,replica_steps_per_s
Run: python3 bench/gpu/torch_replicas.py [--device cuda] [--budget 1.0] [--max-replicas 16384]
  [--replicas 1,8,64,256] [--impls notebook,batched] [--threads N]
`deno task bench` runs it on the CPU with one thread, batched only, at its own replica counts.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn

MODELS = [("echo3", 4, 3), ("echo10-h60", 60, 10)]  # name, hidden, echo step
B, T = 5, 20


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, device, budget):
    """ms per call of step(), after warm-up, over at least `budget` seconds."""
    for _ in range(5):
        step()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(10):
            step()
        n += 10
        sync(device)
        if time.perf_counter() - t0 >= budget:
            return (time.perf_counter() - t0) / n * 1000


def notebook_step(hidden, echo, device):
    rnn = nn.RNN(1, hidden, num_layers=1, nonlinearity="relu", batch_first=True).to(device)
    linear = nn.Linear(hidden, 1).to(device)
    params = list(rnn.parameters()) + list(linear.parameters())
    opt = torch.optim.RMSprop(params, lr=0.001)
    crit = nn.BCEWithLogitsLoss()
    state = {"h": None}

    def step():
        x = torch.randint(0, 2, (B, T, 1), device=device).float()
        y = torch.roll(x, echo, 1)
        opt.zero_grad()
        h = state["h"].detach() if state["h"] is not None else None
        out, state["h"] = rnn(x, h)
        loss = crit(linear(out), y)
        loss.backward()
        opt.step()

    return step


def batched_step(hidden, echo, replicas, device):
    S, H = replicas, hidden
    k = 1 / H ** 0.5

    def u(*shape):
        return (torch.rand(*shape, device=device) * 2 - 1).mul_(k).requires_grad_()

    w_ih, w_hh, b_ih, b_hh = u(S, H, 1), u(S, H, H), u(S, 1, H), u(S, 1, H)
    w_out, b_out = u(S, H, 1), u(S, 1, 1)
    params = [w_ih, w_hh, b_ih, b_hh, w_out, b_out]
    opt = torch.optim.RMSprop(params, lr=0.001)
    state = {"h": torch.zeros(S, B, H, device=device)}

    def step():
        x = torch.randint(0, 2, (S, B, T), device=device).float()
        y = torch.roll(x, echo, 2)
        opt.zero_grad()
        h = state["h"].detach()
        xp = torch.baddbmm(b_ih, x.reshape(S, B * T, 1), w_ih.transpose(1, 2)).reshape(S, B, T, H)
        outs = []
        for t in range(T):
            h = torch.relu(xp[:, :, t] + torch.baddbmm(b_hh, h, w_hh.transpose(1, 2)))
            outs.append(h)
        state["h"] = h
        logits = torch.baddbmm(b_out, torch.stack(outs, 2).reshape(S, B * T, H), w_out).reshape(S, B, T)
        per_replica = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").mean((1, 2))
        per_replica.sum().backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds timed per row")
    ap.add_argument("--max-replicas", type=int, default=16384, help="batched rows at 1, 4, 16, ... up to this")
    ap.add_argument("--replicas", help="batched rows at these counts instead, comma-separated (e.g. 1,8,64,256)")
    ap.add_argument("--impls", default="notebook,batched", help="which rows: notebook, batched or both")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's own)")
    args = ap.parse_args()
    impls = args.impls.split(",")
    if not impls or any(i not in ("notebook", "batched") for i in impls):
        sys.exit(f"error: --impls takes notebook and/or batched, got {args.impls!r}")
    counts = [int(r) for r in args.replicas.split(",")] if args.replicas else None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    dev = f"{device.type} ({name}; torch {torch.__version__})"
    torch.manual_seed(1)
    print("impl,device,model,replicas,ms_per_step,replica_steps_per_s", flush=True)

    def row(impl, model, S, ms):
        print(f'{impl},"{dev}",{model},{S},{ms:.4f},{S * 1000 / ms:.1f}', flush=True)

    for model, hidden, echo in MODELS:
        if "notebook" in impls:
            row("notebook nn.RNN", model, 1, time_steps(notebook_step(hidden, echo, device), device, args.budget))
        if "batched" not in impls:
            continue
        for S in counts or [4 ** i for i in range(20) if 4 ** i <= args.max_replicas]:
            row("batched bmm", model, S, time_steps(batched_step(hidden, echo, S, device), device, args.budget))


if __name__ == "__main__":
    main()
