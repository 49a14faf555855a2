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
from lipcore.config.training import TRAINING

TOP = {
    "name": Field(str, "experiment", help="label of the run or sweep"),
    "probes": Field(list, [], help="probes to run after training, each {name: ..., ...}"),
}

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
    section, _, rest = key.partition(".")
    if not rest:
        return TOP.get(section)
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
    issues += _check_probes(out.get("probes", []))
    if issues:
        raise ConfigError(issues)
    return out


def _check_probes(probes: list) -> list[Issue]:
    from lipcore import catalog

    issues = []
    for i, probe in enumerate(probes):
        if not isinstance(probe, dict) or "name" not in probe:
            issues.append(Issue(f"probes.{i}", "must be a mapping with a 'name'"))
        elif probe["name"] not in catalog.PROBES:
            issues.append(Issue(f"probes.{i}.name", f"unknown probe {probe['name']!r}; choose one "
                                f"of {', '.join(catalog.PROBES) or '(none registered)'}"))
    return issues
