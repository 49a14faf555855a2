"""Which runs of a sweep can train together as one pack, decided from their configs alone.

Two validated configs belong to the same pack when they differ only in `FREE_KEYS`: seeds and
scalar hyper-parameters that each member of a pack may carry for itself (its own learning
rate, weight decay, stoppers, data draw …). Everything else (architecture, shapes, data set,
optimizer, step count, flossing schedule) must be equal, so the members' tensors stack.

A pack is trained vectorised (one forward/backward over a leading member dimension) when its
shared config is in `vectorised_reason`'s reach; otherwise its members train one after another
in the same process. Torch-free: the server groups a sweep with it.
"""
from __future__ import annotations

import json
from typing import Any

#: dotted keys whose values may differ between members of one pack
FREE_KEYS = frozenset({
    "name", "probes",
    "data.data_seed",
    "model.model_seed",
    "training.batch_seed", "training.lr", "training.weight_decay", "training.momentum",
    "training.grad_clip", "training.termination_error", "training.schedule_params",
    "training.stoppers", "training.metrics", "training.pack_size", "training.eval_every",
    "training.checkpoint_every",
    "flossing.weight",
})

#: models whose forward pass is known to vectorise over a member dimension (tested), and the
#: `model.layer` values they need (None: any)
VECTORISED_MODELS: dict[str, frozenset[str] | None] = {
    "mlp": None,
    "deep_linear": None,
    "lipschitz_sequential": frozenset({"ldlt"}),
    "lipschitz_residual": frozenset({"ldlt"}),
}


def pack_key(cfg: dict[str, Any]) -> str | None:
    """A string equal for configs that may share a pack; None for a config that never packs
    (comparative runs train two models in lockstep already)."""
    if cfg.get("model_a") or cfg.get("model_b") or cfg.get("shared"):
        return None
    body: dict[str, Any] = {}
    for section, value in cfg.items():
        if isinstance(value, dict):
            body[section] = {k: v for k, v in value.items() if f"{section}.{k}" not in FREE_KEYS}
        elif section not in FREE_KEYS:
            body[section] = value
    training = cfg.get("training") or {}
    # SGD with and without momentum keep different state; a clip or none is per member
    body["momentum?"] = bool(training.get("momentum"))
    return json.dumps(body, sort_keys=True, default=str)


def vectorised_reason(cfg: dict[str, Any]) -> str | None:
    """None when a pack of configs like `cfg` trains vectorised, else why its members train
    one after another instead."""
    model, training = cfg.get("model") or {}, cfg.get("training") or {}
    layers = VECTORISED_MODELS.get(model.get("name"), frozenset())
    if model.get("name") not in VECTORISED_MODELS:
        return f"model.name {model.get('name')!r} is not vectorised"
    if layers is not None and (model.get("layer") or "ldlt") not in layers:
        return f"model.layer {model.get('layer')!r} is not vectorised"
    if training.get("mode", "entire") != "entire":
        return "training.mode blockwise_sequential trains block by block"
    if training.get("measurements"):
        return "training.measurements read one model's autograd state"
    return None


def group_packs(configs: list[dict[str, Any]], pack_size: int | None = None) -> list[list[int]]:
    """Indices of `configs` grouped into packs of at most `pack_size` (default: the first
    config's `training.pack_size`), in submission order; a config that never packs, or a
    pack_size of 1, gives packs of one."""
    groups: dict[str, list[int]] = {}
    singles: list[list[int]] = []
    order: list[str | int] = []
    for i, cfg in enumerate(configs):
        size = pack_size or (cfg.get("training") or {}).get("pack_size") or 1
        key = pack_key(cfg)
        if key is None or size <= 1:
            singles.append([i])
            order.append(len(singles) - 1)
            continue
        key = f"{size}|{key}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(i)
    packs: list[list[int]] = []
    for entry in order:
        if isinstance(entry, int):
            packs.append(singles[entry])
            continue
        size = int(entry.partition("|")[0])
        members = groups[entry]
        packs += [members[j:j + size] for j in range(0, len(members), size)]
    return sorted(packs, key=lambda p: p[0])
