"""Layer registries and `LipschitzLayer`, the base every constrained layer shares.

Why a base class: two guarantees are the same for every family and easy to get wrong one
layer at a time (REFERENCES.md, "Pitfalls"): an eval-mode weight cache must go stale the
moment a parameter changes, and `lipschitz_bound` must be a class-level promise, not a
number measured at initialisation.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.registry import Registry

class LayerRegistry(Registry):
    """A registry that also answers the read-only dict calls (`LAYERS.keys()`,
    `.values()`, `in`), so code written for a plain dict of layers works unchanged."""

    def keys(self) -> list[str]:
        return self.names()

    def values(self) -> list:
        return [cls for _, cls in self.items()]


# name → class built as cls(in_features, out_features, **kw)
LAYERS: LayerRegistry = LayerRegistry("layer")
# name → class built as cls(in_channels, out_channels, kernel_size, **kw); (B, C, H, W) → (B, C', H, W)
CONV_LAYERS: LayerRegistry = LayerRegistry("conv layer")


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

    def train(self, mode: bool = True) -> "LipschitzLayer":
        """Switching mode (`model.train()`, `model.eval()`) drops the cache: training is about
        to change the parameters, and a cached weight should not outlive its evaluation."""
        self._cache = None
        return super().train(mode)


def init_weight(shape: tuple[int, ...], init: str) -> torch.Tensor:
    """A fresh free parameter: 'orthogonal', 'xavier', or 'small' (N(0, 0.25/n), for the free
    matrix of a skew parameterisation, whose exponential or Cayley transform starts near I)."""
    w = torch.empty(shape)
    if init == "orthogonal":
        return nn.init.orthogonal_(w)
    if init == "xavier":
        return nn.init.xavier_normal_(w)
    return w.normal_(0.0, 0.5 / shape[-1] ** 0.5)


class LinearLayer(LipschitzLayer):
    """Shared constructor of the linear families: checked sizes, a free `weight` of
    `weight_shape` (default (out, in)) and a `bias` of `bias_size` (default out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 weight_shape: tuple[int, ...] | None = None, bias_size: int | None = None,
                 init: str = "orthogonal"):
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.weight = nn.Parameter(init_weight(weight_shape or (out_features, in_features), init))
        self.bias = nn.Parameter(torch.zeros(bias_size or out_features)) if bias else None

    @property
    def n(self) -> int:
        """max(in, out): the square size residual and orthogonal families work in."""
        return max(self.in_features, self.out_features)


class AffineLinear(LinearLayer):
    """A linear family whose map is one constrained matrix: x (..., in) ↦ x·Wᵀ + b (..., out).

    `applied_weight()` is that W (out, in), memoised in inference by `cached`; the forward and
    the flossing tangent rule (`lipcore.tangents`, J·q = q·Wᵀ) both read it."""

    def applied_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.applied_weight(), self.bias)


class ConvLayer(LipschitzLayer):
    """Shared constructor of the conv families: checked sizes, odd `kernel_size`, a free
    `weight` (default (n, n, k, k), n = max(C_in, C_out), N(0, 1/(n·k²))) and a `bias` of
    `bias_size` (default C_out)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True,
                 weight_shape: tuple[int, ...] | None = None, bias_size: int | None = None):
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be a positive odd integer, got {kernel_size!r}")
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = kernel_size
        n = self.n
        shape = weight_shape or (n, n, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.randn(shape) / (n * kernel_size ** 2) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(bias_size or out_channels)) if bias else None

    @property
    def n(self) -> int:
        return max(self.in_channels, self.out_channels)

    def add_bias(self, y: torch.Tensor) -> torch.Tensor:
        """y (B, C_out, H, W) plus the per-channel bias."""
        return y if self.bias is None else y + self.bias[:, None, None]


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
