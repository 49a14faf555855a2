"""The whole config schema and `validate`: defaults filled, every bad key reported at once."""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any

from lipcore.config.data import DATA
from lipcore.config.fields import Field
from lipcore.config.flossing import FLOSSING
from lipcore.config.model import MODEL
from lipcore.config.probes import probe_list_issues
from lipcore.config.training import TRAINING, check_plugins

TOP = {
    "name": Field(str, "experiment", help="label of the run or sweep"),
    "probes": Field(list, [], help="probes to run after training, each {name: ..., ...}"),
    "shared": Field(dict, None, nullable=True,
                    help="comparative: sections merged into both model_a and model_b"),
    "model_a": Field(dict, None, nullable=True,
                     help="comparative: model keys (and a 'training' mapping) of model A"),
    "model_b": Field(dict, None, nullable=True,
                     help="comparative: model keys (and a 'training' mapping) of model B"),
}
COMPARATIVE_KEYS = ("shared", "model_a", "model_b")
#: sections a comparative side may set for itself (besides model keys); `shared` may also set
#: `model` keys other than the name. `data` is one for both: they train on the same batches.
SIDE_SECTIONS = ("training", "flossing")
#: training keys both sides must share (lockstep on the same batches).
LOCKSTEP_KEYS = ("batch_size", "batch_seed", "epochs", "max_steps")

SCHEMA: dict[str, dict[str, Field]] = {
    "data": DATA,
    "model": MODEL,
    "training": TRAINING,
    "flossing": FLOSSING,
}


@dataclass(frozen=True)
class Issue:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(ValueError):
    """A config that cannot run; `.issues` lists each offending dotted key with its reason."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(map(str, issues)))


def known_keys() -> list[str]:
    keys = list(TOP)
    for section, fields in SCHEMA.items():
        keys += [f"{section}.{k}" for k in fields]
    return keys


def field_for(key: str) -> Field | None:
    """The Field of dotted `key`, also inside `shared.<section>.*` and `model_a|model_b.*`."""
    section, _, rest = key.partition(".")
    if not rest:
        return TOP.get(section)
    if section == "shared":
        return field_for(rest) if rest.partition(".")[0] in SCHEMA else None
    if section in ("model_a", "model_b"):
        head, _, tail = rest.partition(".")
        if head in SCHEMA and tail:
            return SCHEMA[head].get(tail)
        return MODEL.get(rest)
    return SCHEMA.get(section, {}).get(rest)


def unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, known_keys(), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown config key{hint}"


def default_config() -> dict[str, Any]:
    cfg: dict[str, Any] = {k: copy.deepcopy(f.default) for k, f in TOP.items()}
    for section, fields in SCHEMA.items():
        cfg[section] = {k: copy.deepcopy(f.default) for k, f in fields.items()}
    return cfg


def validate(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """A complete, type-checked copy of `cfg` with defaults filled in; ConfigError otherwise."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError([Issue("config", "must be a mapping of sections")])
    out = default_config()
    issues: list[Issue] = []
    for key, value in cfg.items():
        if key in SCHEMA:
            if value is None:
                continue
            if not isinstance(value, dict):
                issues.append(Issue(key, "must be a mapping"))
                continue
            for sub, v in value.items():
                dotted = f"{key}.{sub}"
                field = SCHEMA[key].get(sub)
                if field is None:
                    issues.append(Issue(dotted, unknown_key_message(dotted)))
                    continue
                try:
                    out[key][sub] = field.coerce(v)
                except ValueError as e:
                    issues.append(Issue(dotted, str(e)))
        elif key in TOP:
            try:
                out[key] = TOP[key].coerce(value)
            except ValueError as e:
                issues.append(Issue(key, str(e)))
        else:
            issues.append(Issue(str(key), unknown_key_message(str(key))))
    issues += comparative_issues(out)
    issues += [Issue(k, m) for k, m in probe_list_issues(out.get("probes", []))]
    issues += [Issue(k, m) for k, m in check_plugins(out["training"])]
    if not issues:
        issues += check_combinations(out)
    if not issues and is_comparative(out):
        for label in ("model_a", "model_b"):
            try:
                resolve_side(out, label)
            except ConfigError as e:
                issues += [Issue(_side_key(label, i.key), i.message) for i in e.issues]
    if issues:
        raise ConfigError(issues)
    return out


def comparative_issues(cfg: dict[str, Any]) -> list[Issue]:
    """What `shared`, `model_a` and `model_b` may hold, checked before the sides are resolved."""
    issues = []
    shared = cfg.get("shared")
    if shared is not None and not is_comparative(cfg):
        issues.append(Issue("shared", "only for comparative configs (with model_a or model_b)"))
    for section, values in (shared or {}).items():
        key = f"shared.{section}"
        if section not in SIDE_SECTIONS + ("model",):
            issues.append(Issue(key, f"must be one of {', '.join(SIDE_SECTIONS + ('model',))}: "
                                "data is one for both models"))
        elif not isinstance(values, dict):
            issues.append(Issue(key, "must be a mapping"))
        elif section == "model" and "name" in values:
            issues.append(Issue(f"{key}.name", "name each side's model in model or model_a/model_b"))
    for label in ("model_a", "model_b"):
        side = cfg.get(label) or {}
        if "data" in side:
            issues.append(Issue(f"{label}.data", "data is one for both models; set it in data"))
        if "model" in side:
            issues.append(Issue(f"{label}.model", f"model keys go straight into {label}"))
    return issues


def is_comparative(cfg: dict[str, Any]) -> bool:
    return cfg.get("model_a") is not None or cfg.get("model_b") is not None


def _side_key(label: str, key: str) -> str:
    section, _, rest = key.partition(".")
    return f"{label}.{rest}" if section == "model" else f"{label}.{key}"


def resolve_side(cfg: dict[str, Any], label: str) -> dict[str, Any]:
    """The full single-model config of `label` (model_a / model_b) in a comparative config.

    `shared.<section>` is merged into the base sections, then `<label>`'s model keys into
    `model` and its `training` (or other section) mappings into those sections. Validated.
    """
    side = dict(cfg.get(label) or {})
    merged = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in COMPARATIVE_KEYS}
    for section, values in (cfg.get("shared") or {}).items():
        if section not in SCHEMA or not isinstance(values, dict):
            raise ConfigError([Issue(f"shared.{section}", "must be a mapping of a section "
                                     f"({', '.join(SCHEMA)})")])
        merged.setdefault(section, {}).update(values)
    for key, value in side.items():
        if key in SCHEMA:
            if not isinstance(value, dict):
                raise ConfigError([Issue(f"{key}", "must be a mapping")])
            merged.setdefault(key, {}).update(value)
        else:
            merged.setdefault("model", {})[key] = value
    return validate(merged)


def check_combinations(cfg: dict[str, Any]) -> list[Issue]:
    """Combinations no single key can reject: online data with full batch, conv on flat data,
    comparative runs that cannot share batches."""
    from lipcore import catalog
    from lipcore.config.data import IMAGE_DATASETS, ONLINE_DATASETS

    data, model, training = cfg["data"], cfg["model"], cfg["training"]
    issues = []
    if data["online"]:
        if data["name"] not in ONLINE_DATASETS:
            issues.append(Issue("data.online", f"{data['name']!r} has no online sampler; "
                                f"online sets: {', '.join(ONLINE_DATASETS)}"))
        if training["batch_size"] is None:
            issues.append(Issue("training.batch_size", "online data (data.online: true) draws "
                                "fresh samples per batch and needs a batch size, not null"))
    is_image = (data["name"] in IMAGE_DATASETS and not data["flatten"]) or (
        data["name"] == "digits" and data["image"])
    if model["name"] in catalog.IMAGE_MODELS and not is_image:
        issues.append(Issue("model.name", f"{model['name']!r} is a conv model and needs image "
                            f"data, but data.name {data['name']!r} is flat here (digits: set "
                            "data.image: true; file sets: data.flatten: false)"))
    token_model = model["name"] in catalog.TOKEN_MODELS
    if token_model != (data["name"] == "text"):
        issues.append(Issue("model.name", f"{model['name']!r} and data.name {data['name']!r} do "
                            "not fit: token models (" + ", ".join(catalog.TOKEN_MODELS) +
                            ") read the char-level 'text' set, and only they can"))
    if is_comparative(cfg) and training["mode"] != "entire":
        issues.append(Issue("training.mode", "comparative training runs mode 'entire' only"))
    if is_comparative(cfg):
        for key in LOCKSTEP_KEYS:
            for label in ("model_a", "model_b"):
                side = (cfg.get(label) or {}).get("training") or {}
                if key in side:
                    issues.append(Issue(f"{label}.training.{key}", "both models train in "
                                        "lockstep on the same batches; set it in "
                                        f"training or shared.training instead"))
    return issues
