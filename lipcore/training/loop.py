"""The training loop: a function with a reporter, nothing else listens."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from lipcore.data import Dataset
from lipcore.reporting import NullReporter
from lipcore.training.optim import LOSSES, OPTIMIZERS, default_loss


class DivergedError(RuntimeError):
    """The loss became non-finite; `.step` and `.value` say where."""

    def __init__(self, step: int, value: float):
        self.step, self.value = step, value
        super().__init__(f"loss became non-finite ({value}) at step {step}")


@dataclass
class TrainResult:
    status: str  # succeeded | diverged | cancelled
    steps: int
    final: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
             task: str) -> dict[str, float]:
    """Mean loss (and accuracy for classification) on (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    out = model(x)
    result = {"loss": float(loss_fn(out, y))}
    if task == "classification":
        result["acc"] = float((out.argmax(1) == y).float().mean())
    model.train(was_training)
    return result


def train(model: nn.Module, data: Dataset, cfg: dict[str, Any], reporter: Any = None,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train `model` on `data` with the `training` section `cfg`.

    Logs `train_loss`, `test_loss` (and `*_acc` for classification) once per epoch at the
    global step count, so step grows along the run. Returns how the run ended.
    """
    reporter = reporter or NullReporter()
    device = pick_device(cfg["device"])
    model.to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    loss_fn = LOSSES.get(cfg["loss"] or default_loss(data.task), key="training.loss")()
    optimizer = OPTIMIZERS.get(cfg["optimizer"], key="training.optimizer")(model.parameters(), cfg)
    n = x.shape[0]
    batch = n if cfg["batch_size"] is None else min(cfg["batch_size"], n)
    g = torch.Generator().manual_seed(cfg["batch_seed"])
    step, final = 0, {}
    for epoch in range(cfg["epochs"]):
        model.train()
        order = torch.randperm(n, generator=g).to(device)
        total, count = 0.0, 0
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            if not math.isfinite(loss.item()):
                reporter.log({"train_loss": loss.item()}, step)
                return TrainResult("diverged", step, final, str(DivergedError(step, loss.item())))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["grad_clip"]:
                nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            optimizer.step()
            step += 1
            total += loss.item() * len(idx)
            count += len(idx)
            if reporter.should_stop():
                return TrainResult("cancelled", step, final)
        test = evaluate(model, x_test, y_test, loss_fn, data.task)
        final = {"train_loss": total / count, **{f"test_{k}": v for k, v in test.items()}}
        final["epoch"] = epoch + 1
        reporter.log(final, step)
        if progress:
            progress(epoch + 1, cfg["epochs"])
    return TrainResult("succeeded", step, final)
