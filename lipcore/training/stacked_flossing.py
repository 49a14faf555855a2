"""Gradient flossing for every member of a pack on the parameter stacks (no vmap).

`lipcore.flossing.walk` (the QR method of `lipcore.flossing._chain`) over a stacked plan's
blocks: each block's steps by their stacked rules (`stacked_rules`, `stacked_tangents`), the
tangents (P, k, n, N) of all members through one batched product per layer, one batched QR
(P, n, N, k) per interval, log|R_ii| → per-member exponents (P, k). Each member gets what its
solo run computes: the same flossing rows, the same Q₀ (seeded per step by
`flossing.step_generator`, identical across members), the same `qr_every` and chain start/end.

    params: full name → (P, …) stacks; x (B, …) shared by all members or (P, B, …).
"""
from __future__ import annotations

from typing import Any

import torch

from lipcore.flossing import exponents, step_generator, walk
from lipcore.training.stacked_rules import Params, StackedPlan, Step


def _tangents(params: Params):
    def tangents(block: list[Step], h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for s in block:
            h, q = s.tangent(s.module, s.own(params), h, q)
        return h, q
    return tangents


def chain(plan: StackedPlan, params: Params, x: torch.Tensor, shared: bool, n: int, k: int,
          generator: torch.Generator | None, finish: bool,
          qr_every: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """`flossing._chain` for every member: (h (P, B, …), log_r (P, n, k))."""
    members = next(iter(params.values())).shape[0]
    h = x.flatten(1) if shared else x.flatten(2)
    if shared:
        h = h.expand(members, *h.shape)
    return walk(plan.blocks, lambda block, h: plan.run(block, params, h), _tangents(params), h, n, k,
                generator, finish, qr_every, lead=1)


def forward_and_penalty(plan: StackedPlan, params: Params, x: torch.Tensor, shared: bool,
                        floss: dict[str, Any], step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(out (P, B, …), penalty (P,)): `Engine._forward_and_floss_penalty` of each member."""
    rows = x.shape[0 if shared else 1]
    n = min(floss.get("batch_size") or rows, rows)
    out, log_r = chain(plan, params, x, shared, n, floss["num_exponents"],
                       step_generator(floss, step), True, floss.get("qr_every", 1))
    return out, exponents(log_r).square().mean(-1)


def penalty(plan: StackedPlan, params: Params, x: torch.Tensor, floss: dict[str, Any]) -> torch.Tensor:
    """(P,) `Engine._floss_penalty` of each member on its rows x (P, B, …) (pre-flossing: the
    tangents of step 0)."""
    n = floss.get("batch_size") or x.shape[1]
    _, log_r = chain(plan, params, x[:, :n], False, min(n, x.shape[1]), floss["num_exponents"],
                     step_generator(floss, 0), False, floss.get("qr_every", 1))
    return exponents(log_r).square().mean(-1)


def lyapunov(plan: StackedPlan, params: Params, x: torch.Tensor, shared: bool, k: int) -> torch.Tensor:
    """(P, k) the `lyapunov` metric of each member: `lyapunov_exponents` on x's first 64 rows."""
    x = x[:64] if shared else x[:, :64]
    _, log_r = chain(plan, params, x, shared, x.shape[0 if shared else 1], k, None, False)
    return exponents(log_r)
