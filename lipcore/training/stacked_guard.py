"""`StackedGuard`: the solo `NumericGuard`, per member of a pack, with no host sync per step.

The pack's parameters are stacks with a leading member dimension P (`PackTrainer._link`), and
one backward gives every member's gradient as a (P, …) stack. `screen` does for each member
what `NumericGuard.screen` does for a run alone: it looks at the member's objective, the norm
of each of its gradients and the norm of each of its parameters (which carry the previous
step's update); when any is non-finite it zeroes *that member's* gradients of this step (a
masked fill over its rows, no sync), so no inf/NaN enters its parameters or optimizer state,
and its neighbours' rows are untouched. The first event per member (step, code, value) is kept
in device tensors of length N (one row per engine of the pack, however the stack is re-linked)
and read once, for the whole pack, when some member evaluates, checkpoints or ends (`read`).

The codes are `NumericGuard`'s: i < n is parameter i, n the objective, n + 1 + i the gradient
of parameter i (n parameters), so `error` gives the same `DivergedError` as the solo guard.
"""
from __future__ import annotations

import torch

from lipcore.training.guard import DivergedError


def _row_norms(stack: torch.Tensor) -> torch.Tensor:
    """(P, …) → (P,): each member's 2-norm of its slice."""
    return torch.linalg.vector_norm(stack.reshape(len(stack), -1), dim=1)


class StackedGuard:
    """Per-member first non-finite events of a pack of N members whose parameters are named
    `names` (the solo model's `named_parameters()` order)."""

    def __init__(self, names: list[str], n: int, device: torch.device, dtype: torch.dtype):
        self.names = names
        self.first_step = torch.full((n,), -1, dtype=torch.long, device=device)
        self.first_code = torch.zeros((n,), dtype=torch.long, device=device)
        self.first_value = torch.zeros((n,), dtype=torch.float64, device=device)
        self.dtype = dtype  # what the solo guard casts its norms to (the default dtype)
        self.last_step: int | None = None  # the step whose update the parameters carry
        self._host: tuple[list[int], list[int], list[float]] | None = None

    def _norms(self, stacks: list[torch.Tensor | None], p: int, like: torch.Tensor) -> torch.Tensor:
        """(P, len(stacks)) member norms; a missing gradient counts as zero."""
        cols = [torch.zeros(p, dtype=self.dtype, device=like.device) if t is None
                else _row_norms(t).to(self.dtype) for t in stacks]
        return torch.stack(cols, 1)

    def _record(self, rows: torch.Tensor, values: torch.Tensor, split: int, before: int,
                after: int) -> torch.Tensor:
        """Keep, per member row, the first non-finite entry of `values` (P, K) unless an earlier
        event is kept (at step `before` for an index below `split`, else `after`); returns
        which members tripped, a (P,) device bool."""
        bad = ~torch.isfinite(values)
        tripped = bad.any(1)
        index = torch.argmax(bad.to(torch.uint8), 1)
        kept = self.first_step.index_select(0, rows)
        new = tripped & (kept < 0)
        at = torch.where(index < split, before, after)
        value = values.gather(1, index[:, None])[:, 0].double()
        self.first_step.index_copy_(0, rows, torch.where(new, at, kept))
        self.first_code.index_copy_(0, rows, torch.where(new, index, self.first_code.index_select(0, rows)))
        self.first_value.index_copy_(0, rows, torch.where(new, value, self.first_value.index_select(0, rows)))
        self._host = None
        return tripped

    @torch.no_grad()
    def screen(self, step: int, rows: torch.Tensor, params: dict[str, torch.Tensor],
               objective: torch.Tensor, grads: dict[str, torch.Tensor]) -> None:
        """After backward, for the members at stack rows `rows` (their engine indices, (P,)):
        params and grads name → (P, …) (a parameter the objective does not use has no
        gradient), objective (P,). Zeroes, in place, the gradients of every member that
        tripped."""
        p = len(rows)
        values = torch.cat([self._norms([params[n] for n in self.names], p, objective),
                            objective.detach().reshape(p, 1).to(self.dtype),
                            self._norms([grads.get(n) for n in self.names], p, objective)], 1)
        updated = step if self.last_step is None else self.last_step
        tripped = self._record(rows, values, len(self.names), updated, step)
        for g in grads.values():
            g.masked_fill_(tripped.reshape(-1, *([1] * (g.dim() - 1))), 0.0)
        self.last_step = step

    @torch.no_grad()
    def check_parameters(self, rows: torch.Tensor, params: dict[str, torch.Tensor]) -> None:
        """The parameters after the last update (the next `screen` would see them)."""
        if self.last_step is not None and len(rows):
            values = self._norms([params[n] for n in self.names], len(rows), self.first_value)
            self._record(rows, values, len(self.names), self.last_step, self.last_step)

    def read(self) -> None:
        """Bring the records to the host: one sync for the whole pack (kept until the next
        screen)."""
        if self._host is None:
            self._host = (self.first_step.tolist(), self.first_code.tolist(),
                          self.first_value.tolist())

    def error(self, i: int) -> DivergedError | None:
        """Member i's first event as the solo guard reports it, or None (after `read`)."""
        self.read()
        steps, codes, values = self._host
        if steps[i] < 0:
            return None
        n, code, value = len(self.names), codes[i], values[i]
        if code < n:
            quantity = f"parameter {self.names[code]}"
        else:
            quantity = "loss" if code == n else f"gradient of {self.names[code - n - 1]}"
        reason = f"became non-finite ({value})" if code == n else \
            f"norm became non-finite ({value}): inf/NaN entries, or entries past the dtype's range"
        return DivergedError(steps[i], quantity, reason, value)
