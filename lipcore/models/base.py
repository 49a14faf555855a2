"""The model registry and `build_model`, which fills sizes from the dataset."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from lipcore.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def build_model(cfg: dict[str, Any], dataset: Any = None) -> nn.Module:
    """Build `cfg['name']` from the `model` section; seeds the init with `model_seed`.

    `in_features`/`out_features` left out (None) are taken from `dataset` (CONTRACT §4).
    """
    cfg = dict(cfg)
    builder = MODELS.get(cfg.get("name"), key="model.name")
    if dataset is not None:
        if cfg.get("in_features") is None:
            cfg["in_features"] = dataset.in_features
        if cfg.get("out_features") is None:
            cfg["out_features"] = dataset.out_features
    for key in ("in_features", "out_features"):
        if cfg.get(key) is None:
            raise ValueError(f"model.{key}: not set and no dataset to take it from")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.get("model_seed", 0))
        return builder(cfg)
