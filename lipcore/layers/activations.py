"""Activations by name, each with its Lipschitz constant; MaxMin and GroupSort (Anil et al.
2019) are the gradient-norm-preserving ones 1-Lipschitz networks use."""
from __future__ import annotations

import torch
from torch import nn

from lipcore.registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")

ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("gelu")(nn.GELU)
ACTIVATIONS.register("identity")(nn.Identity)

# sup |f'|: what a network's bound multiplies by for each activation.
LIPSCHITZ = {"relu": 1.0, "tanh": 1.0, "identity": 1.0, "maxmin": 1.0, "groupsort": 1.0,
             "gelu": 1.1289}


@ACTIVATIONS.register("groupsort")
class GroupSort(nn.Module):
    """Sort each group of `group_size` consecutive features along `dim` (default 1, the
    feature or channel dim). (B, C, ...) → same shape; a trailing partial group is sorted too."""

    def __init__(self, group_size: int = 4, dim: int = 1):
        super().__init__()
        if group_size < 2:
            raise ValueError(f"group_size: must be >= 2, got {group_size}")
        self.group_size = group_size
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.group_size, dim=self.dim)
        return torch.cat([p.sort(dim=self.dim, descending=True).values for p in parts], dim=self.dim)


@ACTIVATIONS.register("maxmin")
class MaxMin(nn.Module):
    """Pairs feature i with feature i + C/2 along `dim`: (max, min). (B, C, ...) → same; for an
    odd C the last feature passes through."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[self.dim]
        half = c // 2
        a, b, rest = torch.split(x, [half, half, c - 2 * half], dim=self.dim)
        return torch.cat([torch.maximum(a, b), torch.minimum(a, b), rest], dim=self.dim)


def build_activation(name: str, key: str = "model.activation") -> nn.Module:
    return ACTIVATIONS.get(name, key=key)()
