"""Comparative training (seed 001): two models trained in lockstep on the same batches.

The config's `shared` sections are merged into both sides, then `model_a` / `model_b` (model
keys, plus optional `training` / other section mappings) into each; see
`lipcore.config.schema.resolve_side`. Metrics are logged as `a/<name>` and `b/<name>`, model
A's also under the plain names, and the comparative metrics (`param_distance`,
`param_cosine_sim`) listed in `training.metrics` under their own names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lipcore.config.schema import resolve_side
from lipcore.data import Dataset, build_dataset
from lipcore.models import build_model
from lipcore.training.loop import Engine, TrainResult, make_member, pick_device


def build_comparative(config: dict[str, Any], data: Dataset | None = None):
    """(data, cfg_a, cfg_b, model_a, model_b) from a validated comparative config."""
    cfg_a, cfg_b = resolve_side(config, "model_a"), resolve_side(config, "model_b")
    data = data or build_dataset(cfg_a["data"])
    return data, cfg_a, cfg_b, build_model(cfg_a["model"], data), build_model(cfg_b["model"], data)


def train_comparative(config: dict[str, Any], reporter: Any = None,
                      progress: Callable[[int, int], None] | None = None,
                      checkpoint_dir: str | Path | None = None,
                      resume: dict[str, Any] | None = None) -> tuple[TrainResult, Engine]:
    data, cfg_a, cfg_b, model_a, model_b = build_comparative(config)
    device = pick_device(cfg_a["training"]["device"])
    members = [make_member(model_a, data, cfg_a["training"], device, "a/"),
               make_member(model_b, data, cfg_b["training"], device, "b/")]
    engine = Engine(members, data, cfg_a, reporter, progress, checkpoint_dir, device)
    return engine.run(resume), engine
