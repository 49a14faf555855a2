"""The P objectives of one packed step: every active member's loss (and flossing penalty) on
its batch, as one batched computation over parameter stacks with a leading member dimension.

Two ways, chosen by `lipcore.training.pack.PackTrainer`: the model's stacked rules on the stacks
directly (`native_objective`: MLP, DeepLinear, sequential Lipschitz nets over LDLT — with
flossing by `stacked_flossing` when every step has a stacked tangent rule), or
`vmap(functional_call)` of one member's forward (`vmap_objective`: any model). Both give, for x (B, …)
shared by all members or (P, B, …) one batch each, objective (P,), loss (P,) and out (P, B, …).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

Leaves = dict[str, torch.Tensor]


class MemberObjective(nn.Module):
    """Forward of one member inside vmap: (out, penalty) for x (B, …) and the flossing rows."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, floss: dict[str, Any] | None, step: int) -> tuple:
        if floss is None:
            return self.model(x), None
        from lipcore.flossing import forward_and_flossing_loss, jvp_block_tangents, step_generator

        # the rows and the tangents' seed that `Engine._forward_and_floss_penalty` takes
        n = floss.get("batch_size") or len(x)
        out, penalty, _ = forward_and_flossing_loss(self.model, x, n, floss["num_exponents"],
                                                    step_generator(floss, step),
                                                    jvp_block_tangents, floss.get("qr_every", 1))
        return out, penalty


def flossing_due(floss: dict[str, Any] | None, step: int) -> dict[str, Any] | None:
    """The pack's flossing section when `step` flosses (every `frequency` steps), else None."""
    return floss if floss and step % floss["frequency"] == 0 else None


def native_objective(native: Any, loss_rule: Callable, loss_fn: Callable, leaves: Leaves,
                     x: torch.Tensor, y: torch.Tensor, shared: bool, floss: dict[str, Any] | None,
                     step: int, weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(objective, loss, out) by the model's stacked rules (`stacked_rules.plan`), with the
    flossing penalty weighted by `weights` (P,) when `floss` (`stacked_flossing`: the plan
    must have its tangent rules)."""
    if floss is None:
        out = native.forward(leaves, x, 1, shared)
        loss = loss_rule(loss_fn, out, y, 1)
        return loss, loss, out
    from lipcore.training.stacked_flossing import forward_and_penalty

    out, penalty = forward_and_penalty(native, leaves, x, shared, floss, step)
    loss = loss_rule(loss_fn, out, y, 1)
    return loss + weights * penalty, loss, out


def native_penalty(native: Any, leaves: Leaves, x: torch.Tensor, floss: dict[str, Any]) -> torch.Tensor:
    """(P,) as `vmap_penalty`, by the stacked rules (`stacked_flossing.penalty`)."""
    from lipcore.training.stacked_flossing import penalty

    return penalty(native, leaves, x, floss)


def vmap_objective(template: MemberObjective, loss_fn: Callable, leaves: Leaves, x: torch.Tensor,
                   y: torch.Tensor, shared: bool, floss: dict[str, Any] | None, step: int,
                   weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(objective, loss, out) by `vmap(functional_call)` of one member's forward, with its
    flossing penalty weighted by `weights` (P,) when `floss`: any model."""
    def one(params, xi, yi, w):
        out, penalty = functional_call(template, params, (xi, floss, step))
        loss = loss_fn(out, yi)
        objective = loss if penalty is None else loss + w * penalty
        return objective, loss, out

    dims = None if shared else 0
    prefixed = {f"model.{n}": t for n, t in leaves.items()}
    return vmap(one, in_dims=(0, dims, dims, 0), randomness="same")(prefixed, x, y, weights)


def vmap_penalty(template: MemberObjective, leaves: Leaves, x: torch.Tensor,
                 floss: dict[str, Any]) -> torch.Tensor:
    """(P,) each member's flossing penalty alone on its rows x (P, B, …) (pre-flossing)."""
    def one(params, xi):
        return functional_call(template, params, (xi, floss, 0))[1]

    return vmap(one, randomness="same")({f"model.{n}": t for n, t in leaves.items()}, x)


def member_grads(names: list[str], objective: torch.Tensor, leaves: Leaves) -> Leaves:
    """name → (P, …) gradient of each member's own objective (their sum separates), for the
    parameters the objective uses: like torch.optim, the others take no step."""
    grads = torch.autograd.grad(objective.sum(), list(leaves.values()), allow_unused=True)
    return {n: g for n, g in zip(names, grads) if g is not None}


def correct_per_member(out: torch.Tensor, y: torch.Tensor, shared: bool) -> torch.Tensor:
    """(P,) per member, what `members.n_correct` gives: hits / positions per example."""
    yb = y.expand(out.shape[0], *y.shape) if shared else y
    hits = (out.argmax(-1) == yb).flatten(1).float().sum(1)
    per = yb[0, 0].numel() if yb.dim() > 2 else 1
    return hits / per


def forward_fails(template: MemberObjective, params: Leaves, x: torch.Tensor,
                  floss: dict[str, Any] | None, step: int) -> bool:
    """Whether the batched forward (no gradients) of the members in `params` (prefixed names,
    (R, …) stacks) on x (R, B, …) raises: what the pack's bisection for a failing member asks."""
    try:
        with torch.no_grad():
            vmap(lambda p, xi: functional_call(template, p, (xi, floss, step))[0],
                 randomness="same")(params, x)  # the penalty is computed, not returned
    except RuntimeError:
        return True
    return False
