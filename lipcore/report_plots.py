"""PNG figures of probe results and grouped metrics (matplotlib, Agg backend, no display).

`PROBE_FIGURES[name](result, path)` draws one probe's result as `docs/probes.md` describes it;
`grouped_bars` and `grouped_curves` draw the study figures of `lipcore.report`. Each function
writes one PNG and returns its path. Colours follow matplotlib's default cycle (seed 002's order).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lipcore.registry import Registry  # noqa: E402

PROBE_FIGURES: Registry[Callable[[dict, Path], Path]] = Registry("probe figure")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)  # atomic: an interrupted report never leaves half a PNG behind
    return path


def _log_loss_contour(fig, ax, x, y, loss):
    """Filled contours of log10(loss) (floored at 1e-12) with a colour bar; returns log10(loss)."""
    z = np.log10(np.maximum(np.array(loss, dtype=float), 1e-12))
    fig.colorbar(ax.contourf(x, y, z, levels=20, cmap="viridis"), ax=ax, label="log10 train loss")
    return z


@PROBE_FIGURES.register("interpolation")
def interpolation(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(r["alpha"], r["train_loss"], label="train loss")
    ax.plot(r["alpha"], r["test_loss"], label="test loss")
    for a in (0.0, r.get("alpha_end", 1.0)):
        ax.axvline(a, color="grey", lw=0.5, ls=":")
    ax.set(xlabel=f"alpha ({r['start']} → {r['end']})", ylabel="loss", yscale="log")
    if r.get("train_acc"):
        ax2 = ax.twinx()
        ax2.plot(r["alpha"], r["train_acc"], color="C2", ls="--", label="train acc")
        ax2.set_ylabel("accuracy")
    ax.legend(loc="upper right")
    return _save(fig, path)


@PROBE_FIGURES.register("slice_1d")
def slice_1d(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(r["alpha"], r["loss"])
    ax.set(xlabel=f"alpha ({r['normalization']}-normalised direction)", ylabel="train loss")
    return _save(fig, path)


@PROBE_FIGURES.register("slice_2d")
def slice_2d(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    z = _log_loss_contour(fig, ax, r["alpha"], r["beta"], r["loss"])
    ax.contour(r["alpha"], r["beta"], z, levels=10, colors="white", linewidths=0.4)
    ax.plot(0, 0, "r*")
    ax.set(xlabel="alpha", ylabel="beta")
    return _save(fig, path)


@PROBE_FIGURES.register("hessian")
def hessian(r: dict, path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    ev = r["eigenvalues"]
    axes[0].stem(range(1, len(ev) + 1), ev)
    axes[0].set(xlabel="rank (by magnitude)", ylabel="eigenvalue",
                title=f"trace ≈ {r['trace']:.3g} ± {r['trace_stderr']:.2g}")
    if r.get("density"):
        d = r["density"]
        axes[1].semilogy(d["grid"], np.maximum(np.array(d["density"]), 1e-12))
        axes[1].set(xlabel="eigenvalue", ylabel="density (SLQ)")
    else:
        axes[1].axis("off")
    return _save(fig, path)


@PROBE_FIGURES.register("sharpness")
def sharpness(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, (eps, samples) in enumerate(zip(r["eps"], r["random_samples"])):
        ax.hist(samples, bins=15, alpha=0.5, color=f"C{i}", label=f"random, eps={eps:g}")
        if r.get("ascent_max"):
            ax.axvline(r["ascent_max"][i], color=f"C{i}", ls="--")
    ax.set(xlabel="loss rise (dashed: gradient ascent)", ylabel="count")
    ax.legend(fontsize=7)
    return _save(fig, path)


@PROBE_FIGURES.register("connectivity")
def connectivity(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, name in enumerate(("linear", "aligned", "bezier")):
        if name in r:
            p = r[name]
            ax.plot(p["alpha"], p["loss"], color=f"C{i}",
                    label=f"{name} (barrier {p['loss_barrier']['vs_linear']:.3g})")
            top = int(np.argmax(p["loss"]))
            ax.plot(p["alpha"][top], p["loss"][top], "v", color=f"C{i}")
    ax.set(xlabel="alpha / t", ylabel="train loss")
    ax.legend(fontsize=8)
    return _save(fig, path)


@PROBE_FIGURES.register("pca")
def pca(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    g = r["grid"]
    _log_loss_contour(fig, ax, g["x"], g["y"], g["loss"])
    ax.plot(r["path"]["x"], r["path"]["y"], "w.-")
    ax.plot(r["path"]["x"][-1], r["path"]["y"][-1], "r*")
    ev = r["explained_variance"]
    ax.set(xlabel=f"PC1 ({100 * ev[0]:.1f}%)", ylabel=f"PC2 ({100 * ev[1]:.1f}%)")
    return _save(fig, path)


@PROBE_FIGURES.register("lyapunov")
def lyapunov(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    rows = np.array([[np.nan if v is None else v for v in row] for row in r["exponents"]])
    for i in range(rows.shape[1]):
        ax.plot(r["step"], rows[:, i], label=f"λ{i}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="step", ylabel="Lyapunov exponent")
    ax.legend(fontsize=7)
    return _save(fig, path)


@PROBE_FIGURES.register("certified")
def certified(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(r["eps"], r["certified_acc"], "o-")
    ax.set(xlabel="epsilon", ylabel="certified robust accuracy", ylim=(0, 1))
    return _save(fig, path)


@PROBE_FIGURES.register("measurement")
def measurement(r: dict, path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    phases = ["forward", "backward", "step"]
    med = [1e3 * r["time_s"][p]["median"] for p in phases]
    iqr = [1e3 * r["time_s"][p]["iqr"] for p in phases]
    ax.bar(phases, med, yerr=iqr)
    ax.set(ylabel="ms per batch (median, IQR)",
           title=f"peak {r['memory']['peak_bytes'] / 2**20:.2f} MiB ({r['memory']['method']})")
    return _save(fig, path)


def grouped_bars(labels: list[str], means: list[float], stds: list[float], ns: list[int],
                 xlabel: str, ylabel: str, path) -> Path:
    """Mean ± std per group, N written above each bar."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = np.arange(len(labels))
    ax.bar(x, means, yerr=stds, capsize=3)
    for xi, m, n in zip(x, means, ns):
        ax.annotate(f"N={n}", (xi, m), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def grouped_curves(groups: dict[str, tuple[list, list, list]], xlabel: str, ylabel: str,
                   path, log: bool = True) -> Path:
    """groups: label → (steps, mean, std); mean lines with ± std bands."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, (label, (steps, mean, std)) in enumerate(groups.items()):
        mean, std = np.array(mean, dtype=float), np.array(std, dtype=float)
        ax.plot(steps, mean, color=f"C{i}", label=label)
        ax.fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log" if log else "linear")
    ax.legend(fontsize=7)
    return _save(fig, path)
