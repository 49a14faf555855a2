"""The model registry and `build_model`, which fills sizes from the dataset."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from lipcore.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def require(cfg: dict[str, Any], *keys: str) -> tuple:
    """The values of `keys` in the model section; a ValueError naming the first one unset."""
    for key in keys:
        if cfg.get(key) is None:
            raise ValueError(f"model.{key}: not set and no dataset to take it from")
    return tuple(cfg[k] for k in keys)


def build_model(cfg: dict[str, Any], dataset: Any = None) -> nn.Module:
    """Build `cfg['name']` from the `model` section; seeds the init with `model_seed`.

    Sizes left out (None) are taken from `dataset`: `in_features`,
    `out_features`, and for image models `input_shape` (C, H, W), `in_channels`, `n_classes`.
    """
    cfg = dict(cfg)
    builder = MODELS.get(cfg.get("name"), key="model.name")
    if dataset is not None:
        if cfg.get("in_features") is None:
            cfg["in_features"] = dataset.in_features
        if cfg.get("out_features") is None:
            cfg["out_features"] = dataset.out_features
        shape = tuple(getattr(dataset, "input_shape", ()) or ())
        if cfg.get("input_shape") is None and shape:
            cfg["input_shape"] = shape
        if cfg.get("in_channels") is None and len(shape) == 3:
            cfg["in_channels"] = shape[0]
        if cfg.get("n_classes") is None:
            cfg["n_classes"] = cfg["out_features"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.get("model_seed", 0))
        return builder(cfg)
