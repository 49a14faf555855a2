"""Exact Jacobians in float64 and optimizer-driven stress, shared by the layer and model tests."""
from __future__ import annotations

import torch


def jacobian(f, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """J of f at one input x (no batch dim): (out_numel, in_numel), exact (autograd, vectorised)."""
    flat = x.reshape(-1)
    return torch.autograd.functional.jacobian(
        lambda v: f(v.reshape(1, *x.shape)).reshape(-1), flat,
        create_graph=create_graph, vectorize=True)


def singular_values(f, x: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        return torch.linalg.svdvals(jacobian(f, x).detach())


def stress(module: torch.nn.Module, shape: tuple, steps_random: int = 8, steps_adversarial: int = 15,
           lr: float = 0.1, seed: int = 0, on_step=None) -> float:
    """Move `module`'s parameters with Adam: first on random objectives, then maximising σ_max
    of the Jacobian at random points (gradient uᵀ(∂J)v with u, v its top singular vectors).
    Calls `on_step()` after every update; returns the largest σ_max seen."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    seen = 0.0
    for _ in range(steps_random):
        x = torch.randn((16,) + shape, generator=g, dtype=torch.float64)
        y = module(x)
        loss = (y * torch.randn(y.shape, generator=g, dtype=torch.float64)).sum() + (y ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if on_step:
            on_step()
    for _ in range(steps_adversarial):
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        if x.numel() <= 64:  # small: differentiate σ_max of the exact Jacobian directly
            sigma = torch.linalg.matrix_norm(jacobian(module, x, create_graph=True), ord=2)
            seen = max(seen, float(sigma.detach()))
        else:  # large: one double-backward pass, uᵀ(∂J)v with u, v J's top singular vectors
            j = jacobian(module, x).detach()
            u, s, vh = torch.linalg.svd(j)
            seen = max(seen, float(s[0]))
            xg = x.reshape(1, *shape).clone().requires_grad_(True)
            out = module(xg).reshape(-1)
            (grad_x,) = torch.autograd.grad(out @ u[:, 0], xg, create_graph=True)
            sigma = grad_x.reshape(-1) @ vh[0]
        opt.zero_grad()
        (-sigma).backward()
        opt.step()
        if on_step:
            on_step()
    return seen
