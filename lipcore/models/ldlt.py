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

Blocks that stand alone: put u_k = F_k z_k (so ‖Δu_k‖² = Δz_kᵀP_kΔz_k). Then block k is
u_k = F_k ReLU(G_k u_{k−1} + b_k), whose own parameters fix G_k and F_k, and the certificate
above says exactly ‖Δu_k‖ ≤ ‖Δu_{k−1}‖: every block is 1-Lipschitz by itself (the first
carries 𝓛, u₀ = 𝓛x; the last is y = W_KR_K⁻¹u_{K−1} + b_K). The network function is the
same as the layer-by-layer form (Ŵ_k = G_kF_{k−1}, re-associated); what changes is where the
cut between blocks lies, so a block can be copied, swapped or trained alone (seed 002's
block-wise engines) without silently breaking a certificate that spans two blocks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers.base import LipschitzLayer, check_size

ALPHA_FLOOR = 1e-4


def ldlt_alpha(log_alpha: torch.Tensor) -> torch.Tensor:
    """α = e^a + `ALPHA_FLOOR`, any shape."""
    return log_alpha.exp() + ALPHA_FLOOR


def ldlt_factors(weight: torch.Tensor, log_alpha: torch.Tensor, scale: float,
                 hidden: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(G = c·s·W R⁻¹ (*L, n_k, n_{k−1}), F = √(2α)·L⁻¹ (*L, n_k, n_k), lower triangular, or
    None when not `hidden`) for weight (*L, n_k, n_{k−1}) and log_alpha (*L,): one block's
    factors (module docstring), or those of a stack of blocks (packed members) by batched
    factorisations. A hidden block is then u ↦ F ReLU(G u + b): two products.

    Factorised in float64 whatever the parameters' dtype: ‖W‖²/α reaches 1e9 in training
    (α ≥ 1e-4), where a float32 Cholesky fails; the results are cast back. F is L's inverse
    taken there too (a triangular solve against √(2α)·I) and then rounded, so a block applies
    it as a product instead of a triangular solve of every row against L rounded to the
    parameters' dtype: a third of the time on the CPU, no per-row scale, and closer to the
    float64 formula (float32 rows within ≈ 1e-6 of it at cond(L) ≈ 1e4–1e6, where the solve
    against the rounded L was ≈ 1e-5 off)."""
    dtype = weight.dtype
    w, alpha = weight.double(), ldlt_alpha(log_alpha).double()[..., None, None]
    eye_in = torch.eye(w.shape[-1], dtype=w.dtype, device=w.device)
    r = torch.linalg.cholesky(w.mT @ w + alpha * eye_in, upper=True)
    g = torch.linalg.solve_triangular(r, w, upper=True, left=False) * scale  # s·W R⁻¹
    if not hidden:
        return g.to(dtype), None
    eye_out = torch.eye(w.shape[-2], dtype=w.dtype, device=w.device)
    lower = torch.linalg.cholesky(w @ w.mT + alpha * eye_out)
    f = torch.linalg.solve_triangular(lower, (2.0 * alpha).sqrt() * eye_out, upper=False)
    return (g * math.sqrt(2.0)).to(dtype), f.to(dtype)


class LDLTLayer(LipschitzLayer):
    """One block of a chain, (..., n_{k−1}) → (..., n_k), 1-Lipschitz alone (`lipschitz` for
    the first, whose input it scales by 𝓛).

    hidden: u ↦ F ReLU(G u + b), G = √2·W R⁻¹·s, F = √(2α)·L⁻¹ (`ldlt_factors`);
    last: u ↦ W R⁻¹ (s·u) + b (s = 𝓛 or 1).
    Built by `LDLTChain`, which has checked 𝓛.
    """

    def __init__(self, in_features: int, out_features: int, hidden: bool, lipschitz: float = 1.0):
        super().__init__()
        check_size("in_features", in_features)
        check_size("out_features", out_features)
        self.in_features, self.out_features, self.hidden = in_features, out_features, hidden
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.orthogonal_(self.weight)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = float(lipschitz)
        self.lipschitz_bound = self.scale

    def alpha(self) -> torch.Tensor:
        return ldlt_alpha(self.log_alpha)

    def factors(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(c·s·W R⁻¹ (n_k × n_{k−1}), F = √(2α)·L⁻¹ (n_k × n_k) or None for the last block)."""
        return ldlt_factors(self.weight, self.log_alpha, self.scale, self.hidden)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        g, f = self.cached(self.factors)
        h = F.linear(u, g, self.bias)
        return h if f is None else F.linear(F.relu(h), f)


class LDLTChain(nn.Module):
    """A whole chain sizes[0] → … → sizes[-1] of LDLT blocks; `lipschitz_bound` = 𝓛 for every
    parameter value. x: (..., sizes[0]) → (..., sizes[-1])."""

    def __init__(self, sizes: list[int], lipschitz: float = 1.0):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError("LDLTChain needs at least an input and an output size")
        if not (math.isfinite(lipschitz) and lipschitz > 0):
            raise ValueError(f"model.lipschitz: must be a finite number > 0, got {lipschitz!r}")
        last = len(sizes) - 2
        self.layers = nn.ModuleList(
            LDLTLayer(a, b, hidden=i < last, lipschitz=lipschitz if i == 0 else 1.0)
            for i, (a, b) in enumerate(zip(sizes, sizes[1:])))
        self.lipschitz_bound = float(lipschitz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
