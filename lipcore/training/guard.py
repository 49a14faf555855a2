"""Non-finite numbers never reach a model silently, at no host sync per training step.

Every step, `NumericGuard.screen` looks at the objective and each parameter's gradient on the
device. When any is non-finite it zeroes *all* gradients of that step before the optimizer
sees them, so no inf/NaN enters the parameters or the optimizer's moments (the step's update
is then only what the optimizer does with a zero gradient: nothing for plain SGD, a
momentum-only move for Adam or SGD with momentum, always finite). The same pass looks at
the parameters, which carry the previous step's update (a finite but overflowing update is
charged to that step; the last update is checked when the flag is read).
The first such event — step, quantity, value — is kept in device tensors and read once per
evaluation (`raise_if_tripped`), before the model is evaluated or checkpointed: the run then
ends `diverged`, reporting the *first* bad step, not the evaluation's.

A linear-algebra error raised inside a layer (the LDLT Cholesky, a matrix exponential, …)
means the parameters are non-finite or degenerate: `factorisation_error` turns it into the
same `DivergedError`, naming the first non-finite parameter when there is one.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class DivergedError(RuntimeError):
    """The run's numbers blew up: `.step`, `.quantity` ("loss", "gradient of <param>",
    "parameter <param>", "factorisation"), `.reason` (one line) and `.value` say where."""

    def __init__(self, step: int, quantity: str, reason: str, value: float = math.nan):
        self.step, self.quantity, self.reason, self.value = step, quantity, reason, value
        super().__init__(f"diverged at step {step}: {quantity} {reason}")

    def record(self) -> dict:
        return {"step": self.step, "quantity": self.quantity, "reason": self.reason,
                "value": self.value}


class NumericGuard:
    """Screens one model's steps; see the module docstring. The record lives on `device`:
    `first_step` (−1 while clean), `first_code` (i < P: parameter i; P: the objective;
    P + 1 + i: the gradient of parameter i) and `first_value`. `prefix` labels the parameter
    names ("a/", "b/" in comparative runs)."""

    def __init__(self, model: nn.Module, device: torch.device, prefix: str = ""):
        named = list(model.named_parameters())
        self.names = [prefix + n for n, _ in named]
        self.params = [p for _, p in named]
        self.first_step = torch.full((), -1, dtype=torch.long, device=device)
        self.first_code = torch.zeros((), dtype=torch.long, device=device)
        self.first_value = torch.zeros((), dtype=torch.float64, device=device)
        self._zero = torch.zeros((), device=device)
        self.last_step: int | None = None  # the step whose update the parameters carry

    def _norms(self, tensors: list[torch.Tensor | None]) -> list[torch.Tensor]:
        present = [t for t in tensors if t is not None]
        norms = iter(torch._foreach_norm(present)) if present else iter(())
        return [self._zero if t is None else next(norms).to(self._zero.dtype) for t in tensors]

    def _record(self, values: torch.Tensor, split: int, before: int, after: int) -> torch.Tensor:
        """Keep the first non-finite entry of `values` (its index is the code; at step `before`
        for an index below `split`, else `after`) unless an earlier event is kept; returns
        whether any entry is non-finite (a device bool)."""
        bad = ~torch.isfinite(values)
        tripped = bad.any()
        index = torch.argmax(bad.to(torch.uint8))
        new = tripped & (self.first_step < 0)
        self.first_step = torch.where(new, torch.where(index < split, before, after), self.first_step)
        self.first_code = torch.where(new, index, self.first_code)
        self.first_value = torch.where(new, values[index].double(), self.first_value)
        return tripped

    @torch.no_grad()
    def screen(self, step: int, objective: torch.Tensor) -> None:
        """After backward: one norm pass over the parameters (they carry the last update) and
        this step's gradients. When anything is non-finite, zero every gradient of this step
        (a masked fill, no sync) and record it: a parameter at the step of the update that
        made it so, the objective or a gradient at `step`."""
        grads = [p.grad for p in self.params]
        values = torch.stack(self._norms(self.params)
                             + [objective.detach().reshape(()).to(self._zero.dtype)]
                             + self._norms(grads))
        updated = step if self.last_step is None else self.last_step
        tripped = self._record(values, len(self.params), updated, step)
        for g in grads:
            if g is not None:
                g.masked_fill_(tripped, 0.0)
        self.last_step = step

    @torch.no_grad()
    def check_parameters(self) -> None:
        """The parameters after the last update (the next `screen` would see them)."""
        if self.last_step is not None:
            self._record(torch.stack(self._norms(self.params)), len(self.params), self.last_step,
                         self.last_step)

    def _describe(self, code: int) -> str:
        n = len(self.params)
        if code < n:
            return f"parameter {self.names[code]}"
        return "loss" if code == n else f"gradient of {self.names[code - n - 1]}"

    def tripped(self) -> DivergedError | None:
        """The first recorded event as an error, or None (one host sync)."""
        self.check_parameters()
        step = int(self.first_step)
        if step < 0:
            return None
        value, code = float(self.first_value), int(self.first_code)
        reason = f"became non-finite ({value})" if code == len(self.params) else \
            f"norm became non-finite ({value}): inf/NaN entries, or entries past the dtype's range"
        return DivergedError(step, self._describe(code), reason, value)

    def raise_if_tripped(self) -> None:
        error = self.tripped()
        if error is not None:
            raise error

    def factorisation_error(self, step: int, error: Exception) -> DivergedError:
        """A linear-algebra error raised in a layer, as a divergence: the recorded first event
        if any, else the first non-finite parameter, else the factorisation itself."""
        earlier = self.tripped()
        if earlier is not None:
            return earlier
        message = (str(error).strip().splitlines() or [type(error).__name__])[0][:240]
        for name, p in zip(self.names, self.params):
            if not bool(torch.isfinite(p).all()):
                return DivergedError(step, f"parameter {name}",
                                     f"is non-finite, so a layer's factorisation failed: {message}")
        return DivergedError(step, "factorisation", f"failed on degenerate parameters: {message}")
