"""Keys of the `training` section, and the checks of its plug-in lists (callbacks, stoppers, …)."""
from __future__ import annotations

import re
from typing import Any

from lipcore.config.fields import Field


def _prox_lambda(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                        for v in items):
        return "must be a number >= 0 or a list of them (one per block)"
    return None


DEVICE_PATTERN = "auto|cpu|mps|cuda(:[0-9]+)?"
NUMBER_OR_LIST = {"anyOf": [{"type": "number", "minimum": 0},
                            {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0}}]}


def _device(value: str) -> str | None:
    if re.fullmatch(DEVICE_PATTERN, value):
        return None
    return f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps"


TRAINING = {
    "optimizer": Field(str, "adam", choices="OPTIMIZERS"),
    "lr": Field(float, 1e-3, min=0.0, exclusive_min=True, help="learning rate"),
    "momentum": Field(float, 0.0, min=0.0, max=1.0, help="SGD momentum"),
    "weight_decay": Field(float, 0.0, min=0.0),
    "batch_size": Field(int, 64, nullable=True, min=1, help="null for full batch"),
    "epochs": Field(int, 20, min=0),
    "max_steps": Field(int, None, nullable=True, min=0, help="stop after this many steps"),
    "batch_seed": Field(int, 0, help="seed of the batch order"),
    "loss": Field(str, None, nullable=True, choices="LOSSES", help="default: by dataset task"),
    "device": Field(str, "auto", check=_device, schema={"type": "string", "pattern": f"^({DEVICE_PATTERN})$"},
                    help="auto (cuda when visible, else cpu), cpu, cuda, cuda:N"),
    "grad_clip": Field(float, None, nullable=True, min=0.0, exclusive_min=True,
                       help="max gradient norm"),
    "schedule": Field(str, None, nullable=True, choices="SCHEDULES",
                      help="learning-rate schedule over the run's steps"),
    "schedule_params": Field(dict, {}, help="arguments of the schedule, e.g. {step_size: 100}"),
    "termination_error": Field(float, None, nullable=True, min=0.0,
                               help="stop once the training loss is at or below this"),
    "eval_every": Field(int, None, nullable=True, min=1,
                        help="evaluate every N steps (default: once per epoch)"),
    "checkpoint_every": Field(int, None, nullable=True, min=1,
                              help="checkpoint at the first evaluation after every N steps "
                                   "(default: every evaluation)"),
    "callbacks": Field(list, [], help="[{name, params}] from the callback registry"),
    "stoppers": Field(list, [], help="[{name, params}] from the stopper registry"),
    "metrics": Field(list, [], help="metric names computed on the test set at each evaluation"),
    "mode": Field(str, "entire", choices=["entire", "blockwise_sequential"],
                  help="whole-model training or sequential proximal block updates"),
    "K": Field(int, 5, min=1, help="blockwise: local steps per block and round"),
    "rounds": Field(int, None, nullable=True, min=0,
                    help="blockwise: rounds (default: the epochs' batches / (K · blocks))"),
    "prox_lambda": Field(None, 0.1, check=_prox_lambda, schema=NUMBER_OR_LIST,
                         help="blockwise: proximal weight, scalar or one per block"),
    "gamma": Field(float, 1.0, min=0.0, max=1.0, help="blockwise: damping of the block update"),
    "block_accuracy_factor": Field(float, 0.0, min=0.0,
                                   help="blockwise: inner stop when ‖∇‖ ≤ factor·λ·‖x̂ − x‖"),
    "measurements": Field(list, [], help="measurement units by name (memory, "
                                         "hessian_block_interaction)"),
    "measurement_every": Field(int, 100, min=1, help="run the measurement units every N steps"),
    "pack_size": Field(int, 32, min=1,
                       help="a sweep trains up to this many alike members as one packed job "
                            "(1: one run per job)"),
}


def check_plugins(training: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for every unknown callback, stopper, metric or measurement name."""
    from lipcore import catalog

    problems = []
    for key, allowed in (("callbacks", catalog.CALLBACKS), ("stoppers", catalog.STOPPERS)):
        for i, spec in enumerate(training.get(key) or []):
            name = spec.get("name") if isinstance(spec, dict) else spec
            if not isinstance(name, str):
                problems.append((f"training.{key}.{i}", "must be a name or {name: ..., params: {...}}"))
            elif name not in allowed:
                problems.append((f"training.{key}.{i}.name",
                                 f"unknown {key[:-1]} {name!r}; choose one of {', '.join(allowed)}"))
    for key, allowed in (("metrics", catalog.METRICS + catalog.COMPARATIVE_METRICS),
                         ("measurements", catalog.MEASUREMENTS)):
        for i, name in enumerate(training.get(key) or []):
            if name not in allowed:
                problems.append((f"training.{key}.{i}",
                                 f"unknown {key[:-1]} {name!r}; choose one of {', '.join(allowed)}"))
    return problems
