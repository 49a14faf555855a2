"""The `sweep:` section of a study file: a sweep's axes, zip groups, random search, the keys
`--scale` grows, and the study figures, kept in the same YAML as the base config.

    sweep:
      params: {model.depth: [3, 7, 11, 15], model.width: "8,16,32", model.model_seed: 0..3}
      zip: [[model.model_seed, training.batch_seed]]       # keys varied together
      random: {samples: 20, seed: 0}                        # random search instead of a grid
      scale: [training.epochs, data.n_train]                # multiplied by `liplab study --scale N`
      figures: [{name: heatmap, x: model.width, y: model.depth, metric: test_loss}]

Torch-free: `sweep_issues` is registered with the config validator (`SECTION_CHECKS`), so the CLI and the server refuse a bad
section with the dotted key named (`sweep.params.model.dept`, `sweep.scale.0`, ...).
"""
from __future__ import annotations

from typing import Any

from lipcore.config.schema import SECTION_CHECKS

SECTION_KEYS = ("params", "zip", "random", "scale", "figures")


def _params_issues(params: Any, field_for) -> list[tuple[str, str]]:
    from lipcore.sweep import SweepError, parse_spec

    if not isinstance(params, dict):
        return [("sweep.params", "must be a mapping of dotted config keys to values or specs")]
    issues = []
    for key, spec in params.items():
        if field_for(str(key)) is None:
            from lipcore.config.schema import unknown_key_message

            issues.append((f"sweep.params.{key}", unknown_key_message(str(key))))
            continue
        try:
            parse_spec(str(key), spec)
        except SweepError as e:
            issues.append((f"sweep.params.{key}", str(e).partition(": ")[2]))
    return issues


def _figures_issues(figures: Any) -> list[tuple[str, str]]:
    from lipcore import catalog

    if not isinstance(figures, list):
        return [("sweep.figures", "must be a list of {name: ..., ...}")]
    issues = []
    for i, spec in enumerate(figures):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            issues.append((f"sweep.figures.{i}", "must be a mapping with a 'name'"))
        elif spec["name"] not in catalog.STUDY_FIGURES:
            issues.append((f"sweep.figures.{i}.name", f"unknown study figure {spec['name']!r}; "
                           f"choose one of {', '.join(catalog.STUDY_FIGURES)}"))
    return issues


def _given(section: dict, key: str) -> Any:
    """The section's list under `key`, [] when absent or null (an empty mapping stays, and is
    refused as not a list)."""
    value = section.get(key)
    return [] if value is None else value


def sweep_issues(section: Any, field_for) -> list[tuple[str, str]]:
    """(dotted key, message) for every problem of a `sweep:` section (None: no section)."""
    from lipcore.sweep import SweepError, expand

    if section is None:
        return []
    if not isinstance(section, dict):
        return [("sweep", "must be a mapping with params, zip, random, scale, figures")]
    issues = []
    for key in section:
        if key not in SECTION_KEYS:
            issues.append((f"sweep.{key}", f"unknown sweep key; allowed: {', '.join(SECTION_KEYS)}"))
    issues += _params_issues(section.get("params", {}), field_for)
    zip_groups = _given(section, "zip")
    if not isinstance(zip_groups, list) or not all(
            isinstance(g, list) and all(isinstance(k, str) for k in g) for g in zip_groups):
        issues.append(("sweep.zip", "must be a list of key lists, e.g. [[model.width, training.lr]]"))
    random = section.get("random")
    if random is not None and (not isinstance(random, dict)
                               or set(random) - {"samples", "seed", "grid"}
                               or not isinstance(random.get("samples"), int)):
        issues.append(("sweep.random", "must be {samples: N, seed: S, grid?: true} with an "
                       "integer N"))
    scale = _given(section, "scale")
    if not isinstance(scale, list):
        issues.append(("sweep.scale", "must be a list of numeric config keys"))
    else:
        for i, key in enumerate(scale):
            f = field_for(str(key))
            if f is None or f.type not in (int, float):
                issues.append((f"sweep.scale.{i}", f"{key!r} is not a numeric config key"))
    issues += _figures_issues(_given(section, "figures"))
    if not issues and isinstance(section.get("params"), dict):
        try:
            expand(section["params"], zip=zip_groups or None, random=random)
        except SweepError as e:
            where = e.key if e.key in ("zip", "params", "random.samples") else f"params.{e.key}"
            issues.append((f"sweep.{where}", str(e).partition(": ")[2]))
    return issues


SECTION_CHECKS["sweep"] = sweep_issues
