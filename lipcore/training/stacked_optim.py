"""`StackedOptimizer`: torch's SGD, Adam and AdamW updates over parameters stacked along a
leading member dimension P, with each member's own learning rate, weight decay, momentum and
gradient clip.

The formulas are torch.optim's single-tensor ones (what the CPU runs), written over (P, …)
tensors with per-member scalars broadcast along the first dimension:

- clip (`nn.utils.clip_grad_norm_`): g ← g · min(1, c / (‖g‖ + 1e-6)), ‖g‖ over all the
  member's gradients;
- SGD: g ← g + wd·θ; b ← μ·b + g (b starts at 0, which equals torch's first-step copy);
  θ ← θ − lr·(b or g);
- Adam: t ← t + 1; g ← g + wd·θ (AdamW instead θ ← θ·(1 − lr·wd)); m ← lerp(m, g, 1 − β₁);
  v ← β₂·v + (1 − β₂)·g²; θ ← θ − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).

The state tensors are stacked too, and each member's `torch.optim` optimizer holds views of its
slices (`momentum_buffer`, `step`, `exp_avg`, `exp_avg_sq`), so its `state_dict()` is what a solo
run would checkpoint, and a solo `optimizer.step()` on one member updates the stack in place.
"""
from __future__ import annotations

import math
from typing import Any

import torch

ADAM_KINDS = {"adam": False, "adamw": True}  # name → decoupled weight decay


def _per_member(values: list[float], like: torch.Tensor) -> torch.Tensor:
    """(P,) scalars shaped (P, 1, …, 1) to broadcast against a (P, …) stack."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).reshape(
        -1, *([1] * (like.dim() - 1)))


class StackedOptimizer:
    """The optimizer of `members` (loop `Member`s, one optimizer kind), whose parameters are
    the slices of `stacks` (name → (P, …) tensor; see `PackTrainer._link`)."""

    def __init__(self, members: list[Any], stacks: dict[str, torch.Tensor]):
        self.members, self.stacks, self.names = members, stacks, list(stacks)
        names = self.names
        self.kind = members[0].cfg["optimizer"]
        params = [dict(m.model.named_parameters()) for m in members]
        group = members[0].optimizer.param_groups[0]
        self.betas, self.eps = group.get("betas", (0.9, 0.999)), group.get("eps", 1e-8)
        self.wd = [float(m.cfg["weight_decay"]) for m in members]
        self.momentum = [float(m.cfg["momentum"]) for m in members]
        self.clip = [m.cfg["grad_clip"] for m in members]
        keys = ["exp_avg", "exp_avg_sq", "step"] if self.kind in ADAM_KINDS else \
            (["momentum_buffer"] if any(self.momentum) else [])
        self.state: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
        #: name → each member's Adam step count, kept on the host so the bias corrections
        #: cost no device read per step (read from the state once, then counted)
        self.steps: dict[str, list[float]] = {}
        for n in names:
            base = stacks[n]
            for key in keys:
                self.state[n][key] = self._stack_state(params, n, key, base)
            for j, (m, ps) in enumerate(zip(members, params)):
                p = ps[n]
                slot = m.optimizer.state[p]
                for key in keys:
                    slot[key] = self.state[n][key][j]

    def _stack_state(self, params: list[dict], n: str, key: str, base: torch.Tensor) -> torch.Tensor:
        """The members' existing `key` state of parameter `n` stacked; zeros where a member
        has none yet (a fresh optimizer)."""
        rows = []
        for m, ps in zip(self.members, params):
            have = m.optimizer.state.get(ps[n], {}).get(key)
            if key == "step":
                rows.append(have.detach().clone().reshape(()) if have is not None else
                            torch.zeros((), dtype=_scalar_dtype(), device=base.device))
            else:
                rows.append(have.detach().clone() if have is not None else torch.zeros_like(base[0]))
        return torch.stack(rows)

    # --- the update ----------------------------------------------------------------------
    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], lrs: list[float],
             finite: list[bool] | None = None, clip: bool = True) -> None:
        """One update of every member (of those whose `finite` is True when given; the others
        keep their tensors). grads: name → (P, …) stacked gradients; lrs: each member's
        learning rate; clip: apply the members' `training.grad_clip` (the flossing warm-up
        does not). No host sync: a member whose step is not finite has had its gradients
        zeroed by the `StackedGuard` beforehand, as the solo guard does."""
        held = self._hold([j for j, ok in enumerate(finite) if not ok]) if finite else []
        if clip:
            grads = self._clip(grads)
        if self.kind in ADAM_KINDS:
            self._adam(grads, lrs, ADAM_KINDS[self.kind])
        else:
            self._sgd(grads, lrs)
        self._release(held)
        if held:  # the held members' counts went back: read them again when next needed
            self.resync()

    def resync(self) -> None:
        """The state was stepped behind this object's back (a member's solo step through its
        own torch.optim optimizer, on the same tensors): read the step counts again."""
        self.steps = {}

    def _param(self, n: str) -> torch.Tensor:
        """The (P, …) stack behind parameter `n` (the members' parameters are its slices)."""
        return self.stacks[n]

    def _clip(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not any(self.clip):
            return grads
        norms = torch.stack([torch.linalg.vector_norm(g.reshape(len(g), -1), 2, dim=1)
                             for g in grads.values()], 1)
        total = torch.linalg.vector_norm(norms, 2, dim=1)
        limit = torch.tensor([c if c else math.inf for c in self.clip], dtype=total.dtype,
                             device=total.device)
        coef = torch.clamp(limit / (total + 1e-6), max=1.0)
        return {n: g * coef.reshape(-1, *([1] * (g.dim() - 1))) for n, g in grads.items()}

    def _sgd(self, grads: dict[str, torch.Tensor], lrs: list[float]) -> None:
        for n, g in grads.items():
            p = self._param(n)
            if any(self.wd):
                g = g + _per_member(self.wd, p) * p
            buf = self.state[n].get("momentum_buffer")
            if buf is not None:
                buf.mul_(_per_member(self.momentum, p)).add_(g)
                g = buf
            p.add_(g * _per_member([-lr for lr in lrs], p))

    def _adam(self, grads: dict[str, torch.Tensor], lrs: list[float], decoupled: bool) -> None:
        beta1, beta2 = self.betas
        for n, g in grads.items():
            p, st = self._param(n), self.state[n]
            st["step"].add_(1)
            if n not in self.steps:  # one read, then counted on the host
                self.steps[n] = st["step"].tolist()
            else:
                self.steps[n] = [t + 1 for t in self.steps[n]]
            steps = self.steps[n]
            if any(self.wd):
                if decoupled:
                    p.mul_(_per_member([1 - lr * wd for lr, wd in zip(lrs, self.wd)], p))
                else:
                    g = g + _per_member(self.wd, p) * p
            st["exp_avg"].lerp_(g, 1 - beta1)
            st["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step_size = [lr / (1 - beta1 ** t) for lr, t in zip(lrs, steps)]
            bc2_sqrt = [(1 - beta2 ** t) ** 0.5 for t in steps]
            denom = (st["exp_avg_sq"].sqrt() / _per_member(bc2_sqrt, p)).add_(self.eps)
            p.add_(st["exp_avg"] / denom * _per_member([-s for s in step_size], p))

    # --- members left out of one update -----------------------------------------------------
    def _hold(self, rows: list[int]) -> list[tuple[torch.Tensor, int, torch.Tensor]]:
        held = []
        for n in self.names:
            for t in [self._param(n), *self.state[n].values()]:
                held += [(t, j, t[j].clone()) for j in rows]
        return held

    @staticmethod
    def _release(held: list[tuple[torch.Tensor, int, torch.Tensor]]) -> None:
        for t, j, saved in held:
            t[j].copy_(saved)


def _scalar_dtype() -> torch.dtype:
    """The dtype torch.optim gives its `step` counters."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
