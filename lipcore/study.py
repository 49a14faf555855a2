"""A study file (`configs/studies/<seed>_<name>.yaml`) turned into the sweep to submit.

`load_study(path, overrides, scale)` reads the file, validates it (the `sweep:` section too),
applies `key=value` overrides and `--scale N`, and returns a `StudyPlan`: the base config (the
`sweep:` section removed), the sweep's params, zip groups, random search and figure specs, and
the number of runs it expands to. Torch-free, so the CLI plans a study without loading torch.

Overrides: a single value of a swept key removes that axis (`model.depth=3`); a list or range
replaces it (`model.depth=3,7`); any other key sets the base config. A key of a zip group
selects among the group's tuples (`name=full_batch,lockstep` keeps those two variants, with
every other key of the group), so a zip group behaves as one axis. `--scale N` multiplies each
key listed in `sweep.scale` (in the base config or on its axis) by N, integers rounded and kept
at least 1: N > 1 grows a study toward the seed's full size, N < 1 shrinks it for a smoke test.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lipcore.config import ConfigError, Issue, apply_overrides, get_key, load_config, set_key
from lipcore.config.schema import field_for, validate
from lipcore.sweep import expand, parse_spec


@dataclass
class StudyPlan:
    name: str
    config: dict[str, Any]
    params: dict[str, Any]
    zip: list[list[str]] = field(default_factory=list)
    random: dict[str, int] | None = None
    figures: list[dict[str, Any]] = field(default_factory=list)
    n_runs: int = 0

    def body(self, name: str | None = None) -> dict[str, Any]:
        """The `POST /sweeps` body of this study."""
        body: dict[str, Any] = {"name": name or self.name, "config": self.config,
                                "params": self.params}
        if self.zip:
            body["zip"] = self.zip
        if self.random:
            body["random"] = self.random
        return body


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return max(1, round(value * factor))
    return value * factor


def _apply_scale(cfg: dict, params: dict, keys: list[str], factor: float) -> None:
    for key in keys:
        if key in params:
            kind, spec = parse_spec(key, params[key])
            if kind == "values":
                params[key] = [_scaled(v, factor) for v in spec]
            continue
        value = get_key(cfg, key)
        if value is None:
            value = get_key(validate({k: v for k, v in cfg.items() if k != "sweep"}), key)
        set_key(cfg, key, _scaled(value, factor))


def _filter_zip(params: dict, group: list[str], key: str, wanted: list[Any]) -> None:
    """Keep the tuples of zip `group` whose `key` value is one of `wanted`."""
    values = parse_spec(key, params[key])[1]
    missing = [v for v in wanted if v not in values]
    if missing:
        raise ConfigError([Issue(key, f"{missing[0]!r} is not one of the zipped values "
                                 f"{values}; a zipped key selects among its own values")])
    columns = {k: parse_spec(k, params[k])[1] for k in group}
    keep = [i for i, v in enumerate(values) if v in wanted]
    for k in group:
        params[k] = [columns[k][i] for i in keep]


def _apply_overrides(cfg: dict, params: dict, zip_groups: list[list[str]],
                     overrides: list[str]) -> list[list[str]]:
    fixed = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError([Issue(item, "an override is key=value, e.g. training.lr=0.01")])
        if field_for(key) is None:
            apply_overrides({}, [item])  # raises naming the key
        kind, spec = parse_spec(key, value)
        group = next((g for g in zip_groups if key in g), None)
        if group is not None and kind == "values":
            _filter_zip(params, group, key, spec)
        elif kind == "random" or len(spec) > 1:
            params[key] = value
        else:
            params.pop(key, None)
            fixed.append(item)
    cfg.update(apply_overrides(cfg, fixed))
    for group in zip_groups:  # a group filtered down to one tuple is fixed config
        if all(len(parse_spec(k, params[k])[1]) == 1 for k in group):
            for k in group:
                set_key(cfg, k, params.pop(k)[0])
    return [g for g in zip_groups if all(k in params for k in g)]


def load_study(path: str | Path, overrides: list[str] | None = None,
               scale: float = 1.0) -> StudyPlan:
    """The plan of the study in `path`; ConfigError / SweepError name the offending key."""
    if scale <= 0:
        raise ConfigError([Issue("--scale", f"must be > 0, got {scale}")])
    raw = load_config(path)
    validate(raw)
    cfg = copy.deepcopy(raw)
    section = cfg.pop("sweep", None) or {}
    params = dict(section.get("params") or {})
    zip_groups = [list(g) for g in section.get("zip") or []]
    _apply_scale(cfg, params, list(section.get("scale") or []), scale)
    zip_groups = _apply_overrides(cfg, params, zip_groups, list(overrides or []))
    validate(cfg)
    random = section.get("random")
    members = expand(params, zip=zip_groups or None, random=random)
    return StudyPlan(name=Path(path).stem, config=cfg, params=params, zip=zip_groups,
                     random=random, figures=list(section.get("figures") or []),
                     n_runs=len(members))
