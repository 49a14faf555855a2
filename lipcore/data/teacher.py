"""The linear teacher of seed 001: y = W x (+ noise), W chosen by a registered matrix type.

`@TEACHER_MATRICES.register("name")` adds a type `fn(in_dim, out_dim, cfg, generator) -> W`
with W: (out_dim, in_dim); select it with `data.matrix`.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from lipcore.data.base import DATASETS, Dataset
from lipcore.registry import Registry

TEACHER_MATRICES: Registry[Callable[..., torch.Tensor]] = Registry("teacher matrix")


def _values(cfg: dict[str, Any], n: int) -> torch.Tensor:
    """`data.singular_values` (n of them), or a geometric ramp from 5 down by factors of 2/3."""
    values = cfg.get("singular_values")
    if values is None:
        return 5.0 * (2 / 3) ** torch.arange(n, dtype=torch.float32)
    if len(values) != n:
        raise ValueError(f"data.singular_values: needs {n} values, got {len(values)}")
    return torch.tensor(values, dtype=torch.float32)


@TEACHER_MATRICES.register("diagonal")
def diagonal(in_dim: int, out_dim: int, cfg: dict[str, Any], g: torch.Generator) -> torch.Tensor:
    """diag(s) padded to (out_dim, in_dim): mode i maps input i to output i with strength s_i."""
    n = min(in_dim, out_dim)
    w = torch.zeros(out_dim, in_dim)
    w[range(n), range(n)] = _values(cfg, n).to(w.dtype)
    return w


@TEACHER_MATRICES.register("random")
def random(in_dim: int, out_dim: int, cfg: dict[str, Any], g: torch.Generator) -> torch.Tensor:
    """Gaussian entries with variance 1/in_dim."""
    return torch.randn(out_dim, in_dim, generator=g) / in_dim ** 0.5


@TEACHER_MATRICES.register("low_rank")
def low_rank(in_dim: int, out_dim: int, cfg: dict[str, Any], g: torch.Generator) -> torch.Tensor:
    """U diag(s) Vᵀ of rank `data.rank` with random orthonormal U, V."""
    r = min(cfg["rank"], in_dim, out_dim)
    u, _ = torch.linalg.qr(torch.randn(out_dim, r, generator=g))
    v, _ = torch.linalg.qr(torch.randn(in_dim, r, generator=g))
    return u @ torch.diag(_values(cfg, r)) @ v.T


def whiten(x: torch.Tensor) -> torch.Tensor:
    """x (N, d) transformed so that xᵀx / N = I exactly (needs N ≥ d)."""
    cov = x.T @ x / x.shape[0]
    evals, evecs = torch.linalg.eigh(cov.double())
    return (x.double() @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T).float()


@DATASETS.register("teacher")
def teacher(cfg: dict[str, Any]) -> Dataset:
    """x ~ N(0, I_in_dim), y = W x + noise·ε; x: (N, in_dim), y: (N, out_dim).

    Offline: fixed train and test sets (`data.whiten` makes the training inputs exactly white,
    as Saxe et al.'s closed forms assume). Online: `sampler` draws fresh (x, y) every batch.
    Test targets are noise-free.
    """
    g = torch.Generator().manual_seed(cfg["data_seed"])
    d_in, d_out = cfg["in_dim"], cfg["out_dim"]
    w = TEACHER_MATRICES.get(cfg["matrix"], key="data.matrix")(d_in, d_out, cfg, g)
    noise = cfg.get("noise") or 0.0
    x_train = torch.randn(cfg["n_train"], d_in, generator=g)
    if cfg.get("whiten"):
        if cfg["n_train"] < d_in:
            raise ValueError(f"data.whiten: needs data.n_train >= data.in_dim ({d_in})")
        x_train = whiten(x_train)
    x_test = torch.randn(cfg["n_test"], d_in, generator=g)
    y_train = x_train @ w.T + noise * torch.randn(cfg["n_train"], d_out, generator=g)

    def sampler(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, d_in, generator=gen)
        return x, x @ w.T + noise * torch.randn(n, d_out, generator=gen)

    return Dataset(x_train, y_train, x_test, x_test @ w.T, "regression", sampler=sampler,
                   info={"teacher": w})
