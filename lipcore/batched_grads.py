"""Parameter gradients left for the end of a backward pass and taken for many blocks at once.

A fused tangent run (`lipcore.tangent_chain`) walks its blocks in reverse, and only ḡ of the
activations and tangents is sequential; a weight's gradient ḡ_W = Σ_j g_jᵀ x_j (over the batch
and the tangent rows) or a bias's Σ_rows g is not needed by the next step back. On the CPU at
width 32 each of those small products costs more in dispatch than in arithmetic, so a rule
returns them as `Gram` / `RowSum` placeholders and `resolve` computes all the run's
placeholders of one shape in one batched product (T blocks: two bmm over (T, rows, ·) instead
of 2·T matmuls).
"""
from __future__ import annotations

from collections import defaultdict

import torch


class Gram:
    """ḡ = Σ_j g_jᵀ x_j for pairs (g_j (…, M), x_j (…, N)), each flattened to rows: (M, N)."""

    def __init__(self, *pairs: tuple[torch.Tensor, torch.Tensor]):
        self.pairs = pairs

    def key(self) -> tuple:
        return ("gram",) + tuple((g.shape, x.shape) for g, x in self.pairs)

    @staticmethod
    def batch(group: list[Gram]) -> torch.Tensor:
        """(T, M, N): the T placeholders' gradients, one bmm per pair position."""
        out = None
        for j in range(len(group[0].pairs)):
            g = torch.stack([d.pairs[j][0] for d in group]).flatten(1, -2).mT
            x = torch.stack([d.pairs[j][1] for d in group]).flatten(1, -2)
            out = torch.bmm(g, x) if out is None else torch.baddbmm(out, g, x)
        return out


class RowSum:
    """ḡ = Σ_rows g for g (rows, M): (M,)."""

    def __init__(self, g: torch.Tensor):
        self.g = g

    def key(self) -> tuple:
        return ("rowsum", self.g.shape)

    @staticmethod
    def batch(group: list[RowSum]) -> torch.Tensor:
        return torch.stack([d.g for d in group]).sum(1)


def resolve(grads: list) -> list:
    """`grads` with each placeholder replaced by its tensor, those of one kind and shape
    computed together; other entries (tensors, None) pass."""
    groups = defaultdict(list)
    for i, g in enumerate(grads):
        if isinstance(g, (Gram, RowSum)):
            groups[g.key()].append(i)
    out = list(grads)
    for where in groups.values():
        group = [grads[i] for i in where]
        for i, value in zip(where, type(group[0]).batch(group).unbind(0)):
            out[i] = value
    return out
