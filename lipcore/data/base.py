"""The `Dataset` record and its registry."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from lipcore.registry import Registry

DATASETS: Registry[Callable[..., "Dataset"]] = Registry("dataset")


@dataclass
class Dataset:
    """Train and test tensors with what a model builder needs to know about them.

    x_*: (N, in_features) for flat data or (N, C, H, W) for images; y_*: (N, out_features)
    float targets for regression, (N,) int64 labels for classification.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str  # "regression" | "classification"
    n_classes: int | None = None

    @property
    def in_features(self) -> int:
        return int(self.x_train[0].numel())

    @property
    def out_features(self) -> int:
        if self.task == "classification":
            return int(self.n_classes)
        return int(self.y_train.shape[1]) if self.y_train.dim() > 1 else 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def build_dataset(cfg: dict[str, Any]) -> Dataset:
    """The dataset `cfg['name']` built from the `data` section of a validated config."""
    builder = DATASETS.get(cfg["name"], key="data.name")
    return builder(cfg)
