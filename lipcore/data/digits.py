"""scikit-learn's bundled 8×8 digits (1,797 images, no download), flat or as images."""
from __future__ import annotations

import functools
from typing import Any

import torch

from lipcore.data.base import DATASETS, Dataset, standardize


@functools.lru_cache(maxsize=1)
def _load():
    """scikit-learn's arrays (1797, 64) and (1797,), read once per process."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


@DATASETS.register("digits")
def digits(cfg: dict[str, Any]) -> Dataset:
    """x: (N, 64) flat, or (N, 1, 8, 8) with `data.image`; labels 0–9.

    A permutation seeded by `data.data_seed` splits the 1,797 images; `n_train + n_test` may not
    exceed 1,797. Pixels are standardised by training statistics (flat) or scaled to [0, 1].
    """
    data, target = _load()
    x = torch.tensor(data, dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.int64)
    n_train, n_test = cfg["n_train"], cfg["n_test"]
    if n_train + n_test > len(x):
        raise ValueError(f"data.n_train: n_train + n_test must be at most {len(x)} for digits, "
                         f"got {n_train} + {n_test}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg["data_seed"]))
    x, y = x[order], y[order]
    x_train, x_test = x[:n_train], x[n_train:n_train + n_test]
    if cfg.get("image"):
        x_train, x_test = (t.view(-1, 1, 8, 8) / 16.0 for t in (x_train, x_test))
    elif cfg.get("normalize", True):
        x_train, x_test = standardize(x_train, x_test)
    return Dataset(x_train, y[:n_train], x_test, y[n_train:n_train + n_test], "classification", 10)
