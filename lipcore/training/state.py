"""What callbacks see (`TrainState`, read-only) and what they may change (`TrainControl`).

As in the HF Trainer: a callback cannot reach the model or optimizer; it reads the state and
flips control flags, which the loop applies before the next step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class TrainState:
    """A frozen snapshot: steps done, epochs done, current lr and batch size (None = full),
    and the last evaluation's metrics."""

    step: int
    epoch: int
    lr: float
    batch_size: int | None
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass
class TrainControl:
    """Flags the loop reads before each step: batch size, lr multiplier, stop, evaluate now."""

    batch_size: int | None
    lr_scale: float = 1.0
    stop: bool = False
    stop_reason: str | None = None
    evaluate: bool = False

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
