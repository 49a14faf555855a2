"""Generated regression and classification sets (no download ever)."""
from __future__ import annotations


from typing import Any

import torch

from lipcore.data.base import DATASETS, Dataset


@DATASETS.register("sine")
def sine(cfg: dict[str, Any]) -> Dataset:
    """sin(x) for x uniform on [−10, 10] (seed 000's benchmark); x: (N, 1), y: (N, 1)."""
    g = torch.Generator().manual_seed(cfg["data_seed"])
    n_train, n_test = cfg["n_train"], cfg["n_test"]
    x = torch.rand(n_train + n_test, 1, generator=g) * 20.0 - 10.0
    y = torch.sin(x)
    if cfg.get("noise"):
        y = y + cfg["noise"] * torch.randn(y.shape, generator=g)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], torch.sin(x[n_train:]), "regression")



