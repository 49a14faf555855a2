"""LDLT Lipschitz networks (Juston et al., arXiv 2512.05915): the bound belongs to the chain.

A chain x = z₀ → z_k = ReLU(Ŵ_k z_{k−1} + b_k) (k < K) → y = Ŵ_K z_{K−1} + b_K is 𝓛-Lipschitz
for *every* value of the free W_k (n_k × n_{k−1}) and a_k when, with α_k = e^{a_k} + 1e-4,

    R_k = chol(W_kᵀW_k + α_k I)  (upper, RᵀR),   L_k = chol(W_kW_kᵀ + α_k I)  (lower, LLᵀ),
    Ŵ_k = c_k · W_k R_k⁻¹ · F_{k−1},   F₀ = 𝓛·I,   F_{k−1} = √(2α_{k−1}) · L_{k−1}⁻¹,
    c_k = √2 for hidden maps, 1 for the last.

Proof sketch (the LMI certificate, checked numerically in the tests): put P₀ = 𝓛²I and
P_k = 2α_k(W_kW_kᵀ + α_kI)⁻¹ = F_kᵀF_k. For a hidden map, S_k = 2I − P_k = G_kG_kᵀ with
G_k = √2·W_kR_k⁻¹, and Ŵ_k = G_kF_{k−1}, so 2vᵀŴ_ku ≤ vᵀS_kv + uᵀP_{k−1}u. ReLU's increments
satisfy vᵀ(Ŵ_ku − v) ≥ 0 (v = DŴ_ku, D ∈ [0, 1] diagonal). Adding the two:
vᵀP_kv ≤ uᵀP_{k−1}u. The last map has ‖W_KR_K⁻¹‖ < 1, so ‖Δy‖² ≤ Δzᵀ P_{K−1} Δz ≤ … ≤ 𝓛²‖Δx‖².
(The seed's code puts 𝓛⁻¹ where 𝓛 belongs; its residual form has no certificate at all.)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers.base import LipschitzLayer, check_size

ALPHA_FLOOR = 1e-4


class LDLTLayer(LipschitzLayer):
    """One map of a chain: (..., n_{k−1}) → (..., n_k), ReLU applied when `hidden`.

    Alone it is *not* 𝓛-bounded (its Ŵ depends on the previous map's L); `prev` is a plain
    reference, not a submodule, so each parameter is registered once.
    """

    def __init__(self, in_features: int, out_features: int, hidden: bool,
                 prev: "LDLTLayer | None" = None, lipschitz: float = 1.0):
        super().__init__()
        check_size("in_features", in_features)
        check_size("out_features", out_features)
        self.in_features, self.out_features, self.hidden = in_features, out_features, hidden
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.orthogonal_(self.weight)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.__dict__["prev"] = prev
        self.lipschitz_in = float(lipschitz)
        # A single map's own gain: ‖c_k W R⁻¹‖ < c_k times the input factor.
        self.lipschitz_bound = math.inf if prev is not None else (
            (math.sqrt(2.0) if hidden else 1.0) * self.lipschitz_in)

    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp() + ALPHA_FLOOR

    def left_factor(self) -> torch.Tensor:
        """L_k = chol(W_kW_kᵀ + α_kI), lower; the next map uses F_k = √(2α_k)·L_k⁻¹."""
        w = self.weight
        eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        return torch.linalg.cholesky(w @ w.t() + self.alpha() * eye)

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        eye = torch.eye(w.shape[1], dtype=w.dtype, device=w.device)
        r = torch.linalg.cholesky(w.t() @ w + self.alpha() * eye, upper=True)
        x = torch.linalg.solve_triangular(r, w, upper=True, left=False)  # W R⁻¹
        prev = self.prev
        if prev is None:
            x = x * self.lipschitz_in
        else:
            x = torch.linalg.solve_triangular(prev.left_factor(), x, upper=False, left=False)
            x = x * (2.0 * prev.alpha()).sqrt()
        return x * math.sqrt(2.0) if self.hidden else x

    def _stamp(self) -> tuple:
        own = super()._stamp()
        return own if self.prev is None else own + self.prev._stamp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.cached(self.effective_weight), self.bias)
        return F.relu(y) if self.hidden else y


class LDLTChain(nn.Module):
    """A whole chain sizes[0] → … → sizes[-1], ReLU between maps, none after the last;
    `lipschitz_bound` = 𝓛 for every parameter value. x: (..., sizes[0]) → (..., sizes[-1])."""

    def __init__(self, sizes: list[int], lipschitz: float = 1.0):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError("LDLTChain needs at least an input and an output size")
        if not lipschitz > 0:
            raise ValueError(f"model.lipschitz: must be > 0, got {lipschitz}")
        self.layers = nn.ModuleList()
        prev = None
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            prev = LDLTLayer(a, b, hidden=i < len(sizes) - 2, prev=prev, lipschitz=lipschitz)
            self.layers.append(prev)
        self.lipschitz_bound = float(lipschitz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
