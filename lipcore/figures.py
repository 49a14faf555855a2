"""Matplotlib figures of a finished run, written as PNG by `liplab run` (no display needed).

Pure functions of the run's files: `metrics.jsonl` (one {"step", key: value, …} per line) and
the measurement JSONs. Colours cycle black → red → blue → brown → purple → green (seed 002's
plotting order) before matplotlib's defaults.
"""
from __future__ import annotations

import json
from pathlib import Path

from lipcore.reporting import read_jsonl_metrics

COLORS = ["black", "red", "blue", "brown", "purple", "green"]


def _plot(ax, series: dict, keys: list[str], log: bool = False) -> bool:
    drawn = False
    for i, key in enumerate(keys):
        if key in series:
            steps, values = series[key]["step"], series[key]["value"]
            ax.plot(steps, values, color=COLORS[i % len(COLORS)] if i < len(COLORS) else None,
                    label=key)
            drawn = True
    if drawn:
        if log and all(v > 0 for k in keys if k in series for v in series[k]["value"]):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    return drawn


def write_figures(run_dir: str | Path) -> list[Path]:
    """Curves (losses, accuracies, lr, Lyapunov exponents) and the latest Hessian block
    interaction heat map of the run in `run_dir`, as PNGs under `run_dir/figures/`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    series = read_jsonl_metrics(run_dir / "metrics.jsonl")
    out = run_dir / "figures"
    out.mkdir(exist_ok=True)
    written = []
    groups = {
        "loss": ([k for k in ("train_loss", "test_loss", "a/train_loss", "a/test_loss",
                                 "b/train_loss", "b/test_loss")], True),
        "accuracy": ([k for k in ("train_acc", "test_acc", "a/train_acc", "a/test_acc",
                                     "b/train_acc", "b/test_acc")], False),
        "lr": (["lr", "a/lr", "b/lr"], False),
        "lyapunov": (sorted(k for k in series if k.startswith("lyapunov/")), False),
        "comparative": (["param_distance", "param_cosine_sim"], False),
    }
    for name, (keys, log) in groups.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if _plot(ax, series, keys, log):
            ax.set_title(name)
            fig.tight_layout()
            path = out / f"{name}.png"
            fig.savefig(path, dpi=100)
            written.append(path)
        plt.close(fig)
    hessians = sorted((run_dir / "measurements").glob("hessian_block_interaction_*.json"))
    if hessians:
        record = json.loads(hessians[-1].read_text())
        fig, ax = plt.subplots(figsize=(4, 3.5))
        im = ax.imshow(record["matrix"], cmap="viridis")
        fig.colorbar(im, ax=ax)
        ax.set_title(f"Hessian block interaction ‖H_ij‖ (step {record['step']})")
        ax.set_xlabel("block j")
        ax.set_ylabel("block i")
        fig.tight_layout()
        path = out / "hessian_block_interaction.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
