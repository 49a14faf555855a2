"""Reading config files and applying `key=value` overrides (the seeds' syntax;
docs/configuration.md)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterable

from lipcore.config.schema import ConfigError, Issue, field_for, unknown_key_message

_LITERALS = {"null": None, "none": None, "~": None, "true": True, "false": False}


def parse_scalar(text: str) -> Any:
    """'3' → 3, '1e-3' → 0.001, 'true' → True, 'null' → None, anything else stays a string."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if s.lower() in _LITERALS:
        return _LITERALS[s.lower()]
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def load_config(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON config file as a dict; a clear error if it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    text = p.read_text()
    if p.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([Issue("config", f"{p} must hold a mapping, not {type(data).__name__}")])
    return data


def get_key(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = cfg
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError([Issue(key, f"{part!r} is not a section")])
    node[parts[-1]] = value


def apply_overrides(cfg: dict[str, Any], overrides: dict[str, Any] | Iterable[str]) -> dict[str, Any]:
    """A copy of `cfg` with each dotted key set; strings are parsed as scalars.

    Unknown keys raise ConfigError naming them, before anything runs.
    """
    if not isinstance(overrides, dict):
        pairs = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError([Issue(item, "an override is key=value, e.g. training.lr=0.01")])
            pairs[key.strip()] = value
        overrides = pairs
    out = copy.deepcopy(cfg)
    issues = []
    for key, value in overrides.items():
        if field_for(key) is None:
            issues.append(Issue(key, unknown_key_message(key)))
            continue
        set_key(out, key, parse_scalar(value) if isinstance(value, str) else value)
    if issues:
        raise ConfigError(issues)
    return out
