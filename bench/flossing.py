"""Flossing step time over plain step time (depth 30, width 32, k = 4), as a table.

    OMP_NUM_THREADS=1 python bench/flossing.py [--steps 30] [--rounds 3] [--device cpu] [--quick] [--only mlp] [--json PATH]

One training step = forward, loss, backward, optimizer step on a batch of 64 sine examples;
a flossing step adds the Lyapunov penalty (`flossing.batch_size` examples, k tangents, a QR
per block, backprop through all of it), computed as the training loop does, in the same pass
as the batch's forward (`forward_and_flossing_loss`), with a QR after every block (`qr_every`
1, the default) and after every fifth (`flossing.qr_every: 5`: the same exponents in exact
arithmetic, docs/training.md). Median over `--steps` steps after 3 warm-up steps,
with a device synchronise around each step. Plain and flossing steps alternate in `--rounds`
rounds (each round: plain, then flossing at batch 16 and 64 with a QR per block, then batch 16
with a QR every 5 blocks); a row is the median over the
rounds of each round's median step, the ratio the median of the per-round ratios, the spread
min–max over rounds. Aim: a flossing step ≤ 2× a plain step, at batch 16 with either interval.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from lipcore.flossing import forward_and_flossing_loss
from lipcore.models import build_model

MODELS = {
    "mlp (tanh)": {"name": "mlp", "activation": "tanh"},
    "lipschitz_sequential (aol)": {"name": "lipschitz_sequential", "layer": "aol",
                                   "activation": "maxmin"},
    "lipschitz_sequential (ldlt)": {"name": "lipschitz_sequential", "layer": "ldlt"},
}


VARIANTS = ((16, 1), (64, 1), (16, 5))  # (flossing batch, qr_every) beside the plain step


def step_times(model, x, y, floss_batch: int | None, k: int, steps: int, device,
               qr_every: int = 1) -> list[float]:
    """Seconds per training step, `steps` of them after 3 warm-up steps."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if floss_batch:  # the training loop's path: one pass for the batch and the tangents
            out, penalty, _ = forward_and_flossing_loss(model, x, floss_batch, k, qr_every=qr_every)
            loss = torch.nn.functional.mse_loss(out, y) + 0.1 * penalty
        else:
            loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.harness import Aim, Table, cell, emit, parser, ratio, size, spread

    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=None, help="timed steps a round (30; quick 8)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3; quick 2)")
    p.add_argument("--depth", type=int, default=None, help="30 (smoke 4)")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--only", default=None, help="the models whose label contains this (e.g. mlp)")
    args = p.parse_args()
    steps, rounds = args.steps or size(args, 30, 8, 2), args.rounds or size(args, 3, 2, 1)
    depth = args.depth or size(args, 30, 30, 4)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(64, 1, generator=g) * 20 - 10).to(device)
    y = torch.sin(x)
    t = Table("flossing", f"Gradient flossing: step time, depth {depth}, width {args.width}, k {args.k}, "
              f"batch 64, {device}, {torch.get_num_threads()} thread(s); median (min–max) over {rounds} "
              f"interleaved rounds of {steps} steps", ["model", "flossing batch", "QR every", "plain step ms",
                                                     "flossing step ms", "ratio"], plot_unit="flossing / plain")
    for label, spec in MODELS.items():
        if args.only and args.only not in label:
            continue
        cfg = {**spec, "depth": depth, "width": args.width, "in_features": 1,
               "out_features": 1, "model_seed": 0}
        model = build_model(cfg).to(device)
        got: dict = {None: [], **{v: [] for v in VARIANTS}}
        for _ in range(rounds):
            for v in got:
                fb, m = v if v else (None, 1)
                got[v].append(statistics.median(step_times(model, x, y, fb, args.k, steps, device, m)))
        for fb, m in VARIANTS:
            r = ratio(got[(fb, m)], got[None])
            t.rows.append([label, str(fb), f"{m} block{'s' if m > 1 else ''}", cell(got[None], 1e3),
                           cell(got[(fb, m)], 1e3), cell(r, digits=2) + "×"])
            t.plot[f"{label.split(' ')[-1].strip('()')} b{fb}" + (f" qr/{m}" if m > 1 else "")] = spread(r)
            if fb == 16:
                med = spread(r)[0]
                t.aims.append(Aim(f"{label}, flossing batch 16, QR every {m}: flossing / plain step", "≤ 2×",
                                  f"{med:.2f}×", med <= 2))
    emit([t], args.json)


if __name__ == "__main__":
    main()
