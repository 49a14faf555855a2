"""Certified robustness of Lipschitz classifiers and the offset cross-entropy loss (seed 004;
registered as the loss `offset_cross_entropy` in `lipcore.training.losses`).

A classifier whose logits are 𝓛-Lipschitz (ℓ2) cannot change its decision at x within radius
margin / (√2·𝓛), margin = top-1 − top-2 logit (the √2 because moving one logit up and another
down by δ each takes an input step of δ·√2/𝓛 at most). Certified robust accuracy (CRA) at ε is
the fraction of points both correct and certified past ε.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

EPSILONS = (36 / 255, 72 / 255, 108 / 255, 255 / 255)
OFFSET = 2 * math.sqrt(2) * 36 / 255  # ≈ 0.3993, Prach et al.'s m
TEMPERATURE = 0.25


def margins(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """z_y − max_{j≠y} z_j per row (negative when wrong). scores (N, C), labels (N,) → (N,)."""
    true = scores.gather(1, labels[:, None]).squeeze(1)
    others = scores.scatter(1, labels[:, None], float("-inf"))
    return true - others.max(dim=1).values


def certified(scores: torch.Tensor, labels: torch.Tensor, eps: float,
              lipschitz: float = 1.0) -> torch.Tensor:
    """(N,) bool: correct and margin / (√2·𝓛) > ε."""
    return margins(scores, labels) / (math.sqrt(2.0) * lipschitz) > eps


def certified_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                       epsilons: Iterable[float] = EPSILONS, lipschitz: float = 1.0) -> dict[str, float]:
    """{'certified_acc/<ε>': fraction} with ε to 4 significant digits (the metric names runs log)."""
    return {f"certified_acc/{eps:.4g}": certified(scores, labels, eps, lipschitz).float().mean().item()
            for eps in epsilons}


def offset_cross_entropy(scores: torch.Tensor, labels: torch.Tensor, offset: float = OFFSET,
                         temperature: float = TEMPERATURE) -> torch.Tensor:
    """T·CE((z − m·onehot(y)) / T), mean over the batch: pushes the true logit past the others
    by a margin m, which a Lipschitz network turns into a certified radius."""
    onehot = F.one_hot(labels, scores.shape[1]).to(scores.dtype)
    return temperature * F.cross_entropy((scores - offset * onehot) / temperature, labels)


class OffsetCrossEntropy(nn.Module):
    def __init__(self, offset: float = OFFSET, temperature: float = TEMPERATURE):
        super().__init__()
        self.offset, self.temperature = offset, temperature

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return offset_cross_entropy(scores, labels, self.offset, self.temperature)


@torch.no_grad()
def evaluate_certified(model: nn.Module, x: torch.Tensor, labels: torch.Tensor,
                       epsilons: Iterable[float] = EPSILONS, batch_size: int = 1024) -> dict[str, float]:
    """Clean accuracy and CRA of `model` (eval mode) on (x, labels), certified with the
    model's own guaranteed `lipschitz_bound` (an unbounded model certifies nothing).
    → {'accuracy': a, 'certified_acc/<ε>': …}."""
    was_training = model.training
    model.eval()
    scores = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    lip = float(getattr(model, "lipschitz_bound", math.inf))
    result = {"accuracy": (scores.argmax(1) == labels).float().mean().item()}
    if math.isfinite(lip):
        result.update(certified_accuracy(scores, labels, epsilons, lip))
    else:
        result.update({f"certified_acc/{eps:.4g}": 0.0 for eps in epsilons})
    return result
