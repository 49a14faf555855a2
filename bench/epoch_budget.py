"""Epoch budgets per Lipschitz layer and width (seed 004's epoch_budget_estimator).

    OMP_NUM_THREADS=1 python bench/epoch_budget.py [--budget-h 2] [--n-train 50000]

For each dense layer family and width: a `lipschitz_sequential` model (depth 4, 32 inputs,
10 classes), the training-step time (forward + backward + SGD step; median of 20 after 2
warm-up batches of 256, `lipcore.probes.measurement.measure`), peak memory, and the number of
epochs that fit the time budget, ⌊budget / (step time · batches per epoch)⌋ (`lipcore.budget`).
Prints a Markdown table; on a CUDA machine pass `--device cuda`.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from lipcore.budget import batches_per_epoch, epoch_budget
from lipcore.catalog import LAYERS
from lipcore.models import build_model
from lipcore.probes.measurement import measure


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-h", type=float, default=2.0)
    ap.add_argument("--n-train", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--widths", default="64,256")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 32, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.batch_size,), generator=g).to(args.device)
    n_batches = batches_per_epoch(args.n_train, args.batch_size)
    print(f"torch {torch.__version__}, {args.device}, threads {torch.get_num_threads()}, budget "
          f"{args.budget_h} h, {args.n_train} examples / batch {args.batch_size} = {n_batches} "
          "batches per epoch\n")
    print("| layer | width | params | step ms (median ± IQR) | peak MiB (method) | saved "
          "activations MiB | epochs |")
    print("|---|---|---|---|---|---|---|")
    for layer in LAYERS:
        for width in map(int, args.widths.split(",")):
            cfg = {"name": "lipschitz_sequential", "layer": layer, "depth": 4, "width": width,
                   "in_features": 32, "out_features": 10, "lipschitz": 1.0, "model_seed": 0}
            try:
                model = build_model(cfg).to(args.device)
            except (ValueError, TypeError) as e:
                print(f"| {layer} | {width} | – | not built: {e} | | |")
                continue
            try:
                r = measure(model, nn.CrossEntropyLoss(), x, y,
                            lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9), n_steps=20)
            except RuntimeError as e:  # e.g. an SVD that does not converge: report, go on
                print(f"| {layer} | {width} | – | failed: {type(e).__name__}: "
                      f"{str(e).splitlines()[0][:80]} | | | |")
                continue
            step = r["time_s"]["batch"]
            n_params = sum(p.numel() for p in model.parameters())
            epochs = epoch_budget(args.budget_h * 3600, step["median"], n_batches)
            print(f"| {layer} | {width} | {n_params} | {1e3 * step['median']:.2f} ± "
                  f"{1e3 * step['iqr']:.2f} | {r['memory']['peak_bytes'] / 2**20:.2f} "
                  f"({r['memory']['method']}) | {r['memory']['activation_bytes'] / 2**20:.2f} | "
                  f"{epochs} |")


if __name__ == "__main__":
    main()
