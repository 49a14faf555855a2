"""Small configs and models shared by the training tests."""
from __future__ import annotations

import copy

import torch
from torch import nn


def config(**sections) -> dict:
    """A fast sine/MLP config; `sections` maps section → dict of keys to override."""
    cfg = {"name": "t",
           "data": {"name": "sine", "n_train": 64, "n_test": 32, "data_seed": 0},
           "model": {"name": "mlp", "depth": 2, "width": 8, "activation": "tanh", "model_seed": 0},
           "training": {"optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 4,
                        "batch_seed": 0, "device": "cpu"}}
    for section, values in sections.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(copy.deepcopy(values))
        else:
            cfg[section] = values
    return cfg


class Chain(nn.Module):
    """x → blocks[T-1](…blocks[0](x)); each block a bias-free Linear with a given matrix."""

    def __init__(self, matrices: list[torch.Tensor], act: nn.Module | None = None):
        super().__init__()
        self.blocks = nn.ModuleList()
        for m in matrices:
            lin = nn.Linear(m.shape[1], m.shape[0], bias=False)
            lin.weight.data = m.clone()
            self.blocks.append(lin if act is None else nn.Sequential(lin, act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x
