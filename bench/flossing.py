"""Flossing step time over plain step time (depth 30, width 32, k = 4), as a table.

    OMP_NUM_THREADS=1 python bench/flossing.py [--steps 30] [--device cpu]

One training step = forward, loss, backward, optimizer step on a batch of 64 sine examples;
a flossing step adds the Lyapunov penalty (`flossing.batch_size` examples, k tangents, a QR
per block, backprop through all of it). Median over `--steps` steps after 3 warm-up steps,
with a device synchronise around each step; the spread is the interquartile range.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from lipcore.flossing import flossing_loss
from lipcore.models import build_model

MODELS = {
    "mlp (tanh)": {"name": "mlp", "activation": "tanh"},
    "lipschitz_sequential (aol)": {"name": "lipschitz_sequential", "layer": "aol",
                                   "activation": "maxmin"},
    "lipschitz_sequential (ldlt)": {"name": "lipschitz_sequential", "layer": "ldlt"},
}


def step_times(model, x, y, floss_batch: int | None, k: int, steps: int, device) -> list[float]:
    """Seconds per training step, `steps` of them after 3 warm-up steps."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x), y)
        if floss_batch:
            loss = loss + 0.1 * flossing_loss(model, x[:floss_batch], k)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(64, 1, generator=g) * 20 - 10).to(device)
    y = torch.sin(x)
    print(f"depth {args.depth}, width {args.width}, k {args.k}, batch 64, {device}, "
          f"threads {torch.get_num_threads()}")
    print("| model | flossing batch | plain step (ms) | flossing step (ms) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for label, spec in MODELS.items():
        cfg = {**spec, "depth": args.depth, "width": args.width, "in_features": 1,
               "out_features": 1, "model_seed": 0}
        model = build_model(cfg).to(device)
        plain = step_times(model, x, y, None, args.k, args.steps, device)
        for fb in (16, 64):
            floss = step_times(model, x, y, fb, args.k, args.steps, device)
            mp, mf = statistics.median(plain), statistics.median(floss)
            qp, qf = statistics.quantiles(plain, n=4), statistics.quantiles(floss, n=4)
            print(f"| {label} | {fb} | {1e3 * mp:.1f} ({1e3 * qp[0]:.1f}–{1e3 * qp[2]:.1f}) | "
                  f"{1e3 * mf:.1f} ({1e3 * qf[0]:.1f}–{1e3 * qf[2]:.1f}) | {mf / mp:.2f}× |")


if __name__ == "__main__":
    main()
