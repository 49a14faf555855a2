"""Layer registries and `LipschitzLayer`, the base every constrained layer shares.

Why a base class: two guarantees are the same for every family and easy to get wrong one
layer at a time (REFERENCES.md, "Pitfalls"): an eval-mode weight cache must go stale the
moment a parameter changes, and `lipschitz_bound` must be a class-level promise, not a
number measured at initialisation.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from lipcore.registry import Registry

# name → class built as cls(in_features, out_features, **kw)
LAYERS: Registry[type[nn.Module]] = Registry("layer")
# name → class built as cls(in_channels, out_channels, kernel_size, **kw); (B, C, H, W) → (B, C', H, W)
CONV_LAYERS: Registry[type[nn.Module]] = Registry("conv layer")


class LipschitzLayer(nn.Module):
    """A layer whose Lipschitz constant (ℓ2 → ℓ2) is at most `lipschitz_bound` for every
    parameter value, in train and eval mode.

    `isometry` marks the orthogonal families whose Jacobian has every singular value 1
    (up to rounding); the tests check σ_min for those.
    """

    lipschitz_bound: float = 1.0
    isometry: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple[Any, Any] | None = None

    def _stamp(self) -> tuple:
        # A parameter edited in place (optimizer step, load_state_dict, p.add_ under
        # no_grad) bumps its `_version`; a moved or cast parameter changes data_ptr/dtype.
        return tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in self.parameters())

    def cached(self, compute: Callable[[], Any], key: Any = None) -> Any:
        """`compute()`, memoised only in eval mode without autograd (inference).

        In training, or whenever gradients are on, it is recomputed so gradients flow and
        nothing stale can leak; in inference the result is reused until a parameter changes.
        """
        if self.training or torch.is_grad_enabled():
            return compute()
        stamp = (key, self._stamp())
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, compute())
        return self._cache[1]

    def invalidate(self) -> None:
        """Drop the inference cache (needed only after edits through `p.data`)."""
        self._cache = None


class Unbounded:
    """Mixin marker for layers that promise nothing (`lipschitz_bound` = inf)."""

    lipschitz_bound = math.inf


def pad_features(x: torch.Tensor, n: int, dim: int = -1) -> torch.Tensor:
    """x with zeros appended along `dim` up to size n (an isometric embedding)."""
    extra = n - x.shape[dim]
    if extra <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = extra
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def check_size(key: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key}: must be a positive integer, got {value!r}")
    return value
