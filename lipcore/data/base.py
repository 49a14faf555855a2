"""The `Dataset` record and its registry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from lipcore.registry import Registry

DATASETS: Registry[Callable[..., "Dataset"]] = Registry("dataset")

#: `sampler(n, generator) -> (x, y)`: n fresh examples drawn with `generator` (online data).
Sampler = Callable[[int, torch.Generator], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass
class Dataset:
    """Train and test tensors with what a model builder needs to know about them.

    x_*: (N, in_features) for flat data, (N, C, H, W) for images, (N, T) int64 tokens for text;
    y_*: (N, out_features) float targets for regression, (N,) int64 labels for classification
    (for text: the next token). `sampler` draws fresh training examples (online data);
    `info` holds extras such as the teacher matrix (out_dim, in_dim).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str  # "regression" | "classification"
    n_classes: int | None = None
    sampler: Sampler | None = None
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the teacher matrix

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

    @property
    def in_channels(self) -> int | None:
        """Channels of an image set (N, C, H, W); None for flat data."""
        return int(self.x_train.shape[1]) if self.x_train.dim() == 4 else None

    @property
    def vocab_size(self) -> int | None:
        """Tokens of a text set (x holds int64 ids); None otherwise."""
        return int(self.n_classes) if not self.x_train.is_floating_point() else None


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Each tensor shifted and scaled by the training set's per-feature mean and std
    (features constant in training are only shifted, so test values cannot blow up)."""
    mean, std = train_stats(train)
    return [(t - mean) / std for t in (train, *others)]


def train_stats(train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature (mean, std) of a training tensor (N, d), std 1 where a feature is constant."""
    mean, std = train.mean(0, keepdim=True), train.std(0, keepdim=True)
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)


def build_dataset(cfg: dict[str, Any]) -> Dataset:
    """The dataset `cfg['name']` built from the `data` section of a validated config."""
    builder = DATASETS.get(cfg["name"], key="data.name")
    return builder(cfg)
