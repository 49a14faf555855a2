"""Block-wise sequential proximal training (seed 002, "Algorithm 1"), next to `entire` mode.

One round visits the model's `.blocks` in order. For block i with parameters x_t (the rest
frozen at their newest values, Gauss–Seidel style) it takes up to K local optimizer steps on

    f(θ) + λ_i/2 · ‖θ − x_t‖²      (λ_i = training.prox_lambda, a scalar or one per block)

each on the next batch, stopping early once ‖∇‖ ≤ δ_i = block_accuracy_factor · λ_i ·
‖θ − x_t‖; then the damped update x_{t+1} = x_t + γ(x̂ − x_t). A round is one step of the run.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lipcore.training.members import DivergedError, Member, n_correct
from lipcore.training.optim import OPTIMIZERS


def default_rounds(cfg: dict[str, Any], model: nn.Module, steps_per_epoch: int) -> int:
    """`training.rounds`, or as many rounds as the epochs' batches allow (K per block)."""
    if cfg.get("rounds") is not None:
        return cfg["rounds"]
    if cfg.get("max_steps") is not None:
        return cfg["max_steps"]
    blocks = _blocks(model)
    return max(1, cfg["epochs"] * steps_per_epoch // (cfg["K"] * len(blocks)))


def _blocks(model: nn.Module) -> nn.ModuleList:
    blocks = getattr(model, "blocks", None)
    if blocks is None or len(blocks) == 0:
        raise ValueError("training.mode: blockwise_sequential needs a model with .blocks")
    return blocks


def prox_lambdas(cfg: dict[str, Any], n_blocks: int) -> list[float]:
    lam = cfg["prox_lambda"]
    if isinstance(lam, list):
        if len(lam) != n_blocks:
            raise ValueError(f"training.prox_lambda: {len(lam)} values for {n_blocks} blocks")
        return [float(v) for v in lam]
    return [float(lam)] * n_blocks


def blockwise_round(engine: Any, member: Member) -> None:
    """One round over all blocks of `member.model`, drawing batches from `engine.sampler` (the
    running `lipcore.training.loop.Engine`: its sampler, step, data and learning rate)."""
    cfg, model = member.cfg, member.model
    blocks = _blocks(model)
    lams = prox_lambdas(cfg, len(blocks))
    lr = engine._lr(member)
    local_cfg = dict(cfg, lr=lr)
    for block, lam in zip(blocks, lams):
        params = [p for p in block.parameters() if p.requires_grad]
        if not params:
            continue
        anchor = [p.detach().clone() for p in params]
        opt = OPTIMIZERS.get(cfg["optimizer"], key="training.optimizer")(params, local_cfg)
        for k in range(cfg["K"]):
            x, y, _ = engine.sampler.next()
            out = model(x)
            loss = member.loss_fn(out, y)
            dist2 = sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))
            objective = loss + lam / 2 * dist2
            value = float(objective.detach())
            if not math.isfinite(value):
                raise DivergedError(engine.step, "loss", f"became non-finite ({value})", value)
            grads = torch.autograd.grad(objective, params)
            member.loss_sum += float(loss.detach()) * len(y)
            member.correct += n_correct(out.detach(), y) if engine.data.task != "regression" else 0.0
            member.count += len(y)
            factor = cfg["block_accuracy_factor"]
            if factor > 0 and k > 0:
                gnorm = torch.sqrt(sum((g ** 2).sum() for g in grads))
                if gnorm <= factor * lam * float(dist2.detach()) ** 0.5:
                    break
            for p, g in zip(params, grads):
                p.grad = g
            member.guard.screen(engine.step, objective)
            if cfg["grad_clip"]:
                nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
            opt.step()
        with torch.no_grad():
            for p, a in zip(params, anchor):
                p.copy_(a + cfg["gamma"] * (p - a))
                p.grad = None
