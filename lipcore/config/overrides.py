"""Reading config files and applying overrides, the seeds' `key=value` syntax and more
(the whole grammar: docs/configuration.md).

What a researcher types after the config:

- `training.lr=0.01` sets one value (parsed as a number, bool, null or string);
- `training.metrics=[param_distance]`, `training.callbacks=[{name: lr_decay, params: {decay_every: 10}}]`
  set a list or mapping written in YAML's inline form;
- `+probes=hessian`, `+training.metrics=[a, b]` append one item or several to a list (a bare name
  becomes `{name: hessian}` in the lists whose items are named mappings, such as `probes`);
- `@more.yaml` reads overrides from a YAML file mapping dotted keys (or nested sections) to
  values; `+key:` entries append there too.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
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


# Lists whose items are `{name: ..., ...}` mappings: a bare name stands for `{name: <it>}`.
NAMED_ITEM_LISTS = ("probes",)


@dataclass(frozen=True)
class Override:
    """One override: `value` as typed (`raw`, parsed by `parse_value`) or read from a YAML file."""

    key: str
    value: Any
    append: bool = False
    raw: bool = True

    def parsed(self) -> Any:
        return parse_value(self.key, self.value) if self.raw and isinstance(self.value, str) else self.value


def is_literal(text: Any) -> bool:
    """Whether `text` is a YAML inline list or mapping (`[a, b]`, `{k: v}`), set as one value."""
    return isinstance(text, str) and text.strip()[:1] in ("[", "{")


def parse_value(key: str, text: str) -> Any:
    """A typed value: inline YAML lists/mappings read as YAML, anything else by `parse_scalar`."""
    if not is_literal(text):
        return parse_scalar(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        problem = str(e).splitlines()[0]
        raise ConfigError([Issue(key, f"{text!r} is not a YAML list or mapping ({problem})")]) from None


def parse_item(item: str) -> Override:
    """`key=value` or `+key=value` as an Override; ConfigError for anything else."""
    key, sep, value = item.partition("=")
    append = key.startswith("+")
    key = key.removeprefix("+").strip()
    if not sep or not key:
        raise ConfigError([Issue(item, "an override is key=value (e.g. training.lr=0.01), "
                                       "+key=value to append to a list, or @file.yaml")])
    return Override(key, value, append)


def read_overrides_file(path: str | Path) -> list[Override]:
    """The overrides in a YAML file: dotted keys or nested sections down to a config key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([Issue(f"@{p}", "overrides file not found")])
    import yaml

    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError([Issue(f"@{p}", f"not valid YAML ({str(e).splitlines()[0]})")]) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError([Issue(f"@{p}", "must map config keys to values, e.g. training.lr: 0.01")])
    out = []

    def walk(mapping: dict[str, Any], prefix: str) -> None:
        for name, value in mapping.items():
            append = str(name).startswith("+")
            key = prefix + str(name).removeprefix("+")
            if isinstance(value, dict) and field_for(key) is None and not append:
                walk(value, key + ".")
            else:
                out.append(Override(key, value, append, raw=False))

    walk(data, "")
    return out


def parse_overrides(overrides: dict[str, Any] | Iterable[Any]) -> list[Override]:
    """Overrides as typed on the command line (`key=v`, `+key=v`, `@file.yaml`), or a mapping
    of dotted keys to values (strings parsed, other values set as they are)."""
    if isinstance(overrides, dict):
        return [Override(k.removeprefix("+"), v, k.startswith("+"), raw=isinstance(v, str))
                for k, v in overrides.items()]
    out: list[Override] = []
    for item in overrides:
        if isinstance(item, Override):
            out.append(item)
        elif isinstance(item, str) and item.startswith("@"):
            out += read_overrides_file(item[1:])
        else:
            out.append(parse_item(item))
    return out


def _named_items(key: str, items: list) -> list:
    if key.rpartition(".")[2] not in NAMED_ITEM_LISTS:
        return items
    return [{"name": i} if isinstance(i, str) else i for i in items]


def _append(cfg: dict[str, Any], o: Override) -> Issue | None:
    field = field_for(o.key)
    if field.type is not list:
        return Issue(o.key, f"is not a list, so +{o.key} cannot append; write {o.key}=VALUE")
    current = get_key(cfg, o.key)
    if current is None:
        current = copy.deepcopy(field.default) or []
    if not isinstance(current, list):
        return Issue(o.key, f"holds {current!r}, not a list to append to")
    value = o.parsed()
    set_key(cfg, o.key, current + _named_items(o.key, value if isinstance(value, list) else [value]))
    return None


def apply_overrides(cfg: dict[str, Any], overrides: dict[str, Any] | Iterable[Any]) -> dict[str, Any]:
    """A copy of `cfg` with each override applied in order (see the module docstring).

    Unknown keys, unreadable values and appends to non-lists raise one ConfigError naming every
    offending key, before anything runs.
    """
    out = copy.deepcopy(cfg)
    issues = []
    for o in parse_overrides(overrides):
        if field_for(o.key) is None:
            issues.append(Issue(o.key, unknown_key_message(o.key)))
            continue
        try:
            if o.append:
                issue = _append(out, o)
                issues += [issue] if issue else []
                continue
            value = o.parsed()
            set_key(out, o.key, _named_items(o.key, value) if isinstance(value, list) else value)
        except ConfigError as e:
            issues += e.issues
    if issues:
        raise ConfigError(issues)
    return out
