"""Callbacks by name (seed 001): `factory(**params) -> fn(state, control)`, run before every step.

A config lists them as `training.callbacks: [{name: lr_decay, params: {decay_every: 100,
factor: 0.5}}]` (params may also sit next to `name`).
"""
from __future__ import annotations

from typing import Any, Callable

from lipcore.registry import Registry
from lipcore.training.state import TrainControl, TrainState

Callback = Callable[[TrainState, TrainControl], None]
CALLBACKS: Registry[Callable[..., Callback]] = Registry("callback")


@CALLBACKS.register("switch_batch_size")
def switch_batch_size(step: int, batch_size: int | None) -> Callback:
    """From step `step` on, train with `batch_size` (null: full batch)."""
    def callback(state: TrainState, control: TrainControl) -> None:
        if state.step == step:
            control.batch_size = batch_size
    return callback


@CALLBACKS.register("multi_switch_batch_size")
def multi_switch_batch_size(schedule: dict | list) -> Callback:
    """Several switches: `schedule` maps step → batch size ({100: 32, 500: null}) or is a list
    of [step, batch size] pairs."""
    pairs = schedule.items() if isinstance(schedule, dict) else schedule
    table = {int(s): b for s, b in pairs}

    def callback(state: TrainState, control: TrainControl) -> None:
        if state.step in table:
            control.batch_size = table[state.step]
    return callback


@CALLBACKS.register("lr_decay")
def lr_decay(decay_every: int, factor: float) -> Callback:
    """Multiply the learning rate by `factor` every `decay_every` steps."""
    if decay_every < 1:
        raise ValueError("training.callbacks: lr_decay needs decay_every >= 1")

    def callback(state: TrainState, control: TrainControl) -> None:
        if state.step > 0 and state.step % decay_every == 0:
            control.lr_scale *= factor
    return callback


def spec_params(spec: Any, key: str) -> tuple[str, dict[str, Any]]:
    """(name, params) of a plug-in spec: a name, or {name, params: {...}} / {name, **params}."""
    if isinstance(spec, str):
        return spec, {}
    spec = dict(spec)
    name = spec.pop("name")
    params = dict(spec.pop("params", None) or {})
    params.update(spec)
    return name, params


def build_plugins(registry: Any, specs: list, key: str) -> list:
    """Instantiate each spec of `specs` from `registry`; errors name `key.<i>`."""
    out = []
    for i, spec in enumerate(specs or []):
        name, params = spec_params(spec, key)
        factory = registry.get(name, key=f"{key}.{i}.name")
        try:
            out.append(factory(**params))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{key}.{i}.params: {e}") from None
    return out


def build_callbacks(specs: list, key: str = "training.callbacks") -> list[Callback]:
    return build_plugins(CALLBACKS, specs, key)
