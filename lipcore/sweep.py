"""Sweep expansion: the seeds' `key=a,b`, `a..b..s`, `--zip` and random-search syntax.

`expand(params, zip=None, random=None) -> list[dict]` is pure and torch-free, so the server
expands sweeps without torch (syntax: docs/configuration.md).
`params` maps dotted keys to a spec string (`"0.1,0.2"`, `"0..10..2"`, `"logfloat(1e-4,1e-1)"`)
or a list of values. Keys outside any zip group form a cartesian product; keys of one zip group
vary together. With `random={"samples": N, "seed": S}` each of the N runs draws every
random-function key independently and picks plain lists uniformly (as `choice`): N runs in all,
the same N for the same seed.
"""
from __future__ import annotations

import builtins
import itertools
import math
import random as _random
import re
from typing import Any, Iterable

from lipcore.config.schema import ConfigError
from lipcore.config.overrides import Override, is_literal, parse_overrides, parse_scalar, parse_value

_NUM = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
_RANGE = re.compile(rf"^\s*{_NUM}\s*\.\.\s*{_NUM}\s*(?:\.\.\s*{_NUM}\s*)?$")
_FUNC = re.compile(r"^\s*(choice|randint|randfloat|logfloat)\s*\((.*)\)\s*$")


AXIS_MAX = 1_000_000  # values one range may produce; a typo like 0..1e12 fails fast, not by OOM


class SweepError(ValueError):
    """A malformed sweep spec; `.key` is the offending dotted key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class SweepTooLarge(SweepError):
    """The sweep would have more runs than `max_runs`; raised before any run is built."""


def _split_commas(text: str) -> list[str]:
    return [p.strip() for p in text.split(",")]


def _range(key: str, m: re.Match) -> list[Any]:
    start, stop, step = (parse_scalar(g) if g is not None else None for g in m.groups())
    step = 1 if step is None else step
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (start, stop, step)):
        raise SweepError(key, f"range bounds must be finite numbers in {m.group(0)!r}")
    if step == 0 or (stop - start) * step < 0:
        raise SweepError(key, f"range {m.group(0)!r} is empty or never ends")
    count = (stop - start) / step
    if not math.isfinite(count) or count > AXIS_MAX:
        raise SweepError(key, f"range {m.group(0)!r} has more than {AXIS_MAX} values")
    n = math.ceil(count - 1e-9)
    values = [start + i * step for i in range(n)]
    if all(isinstance(v, int) for v in (start, stop, step)):
        return values
    return [round(v, 12) for v in values]


def parse_spec(key: str, spec: Any) -> tuple[str, Any]:
    """('values', [..]) for a grid axis, or ('random', (fn, args)) for a random-search key."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise SweepError(key, "an empty list sweeps nothing")
        return "values", list(spec)
    if not isinstance(spec, str):
        return "values", [spec]
    if is_literal(spec):  # an inline YAML list or mapping is one value, not a comma list
        try:
            return "values", [parse_value(key, spec)]
        except ConfigError as e:
            raise SweepError(key, e.issues[0].message) from None
    m = _FUNC.match(spec)
    if m:
        fn, args = m.group(1), [parse_scalar(a) for a in _split_commas(m.group(2))]
        if fn == "choice":
            if not args or args == [""]:
                raise SweepError(key, "choice() needs at least one value")
        else:
            if len(args) != 2 or not all(isinstance(a, (int, float)) for a in args):
                raise SweepError(key, f"{fn}(a,b) takes two numbers, got {spec!r}")
            if args[0] > args[1]:
                raise SweepError(key, f"{fn}(a,b) needs a <= b, got {spec!r}")
            if fn == "logfloat" and args[0] <= 0:
                raise SweepError(key, f"logfloat(a,b) needs a > 0, got {spec!r}")
            if fn == "randint" and not all(isinstance(a, int) for a in args):
                raise SweepError(key, f"randint(a,b) takes integers, got {spec!r}")
        return "random", (fn, args)
    m = _RANGE.match(spec)
    if m:
        return "values", _range(key, m)
    return "values", [parse_scalar(p) for p in _split_commas(spec)]


def split_overrides(overrides: Iterable[Any]) -> tuple[list[Override], dict[str, Any]]:
    """(overrides set as they are, {key: spec} of the swept ones): a typed `key=value` whose
    value is a comma list, an `a..b..s` range or a random function sweeps; appends, inline
    YAML lists (`key=[a, b]`) and values from an overrides file are set once."""
    fixed: list[Override] = []
    swept: dict[str, Any] = {}
    for o in parse_overrides(overrides):
        if o.raw and not o.append and isinstance(o.value, str) and not is_literal(o.value):
            kind, spec = parse_spec(o.key, o.value)
            if kind == "random" or len(spec) > 1:
                swept[o.key] = o.value
                continue
        fixed.append(o)
    return fixed, swept


def _draw(rng: _random.Random, fn: str, args: list) -> Any:
    if fn == "choice":
        return rng.choice(args)
    if fn == "randint":
        return rng.randint(args[0], args[1])
    if fn == "randfloat":
        return rng.uniform(args[0], args[1])
    return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))


def expand(
    params: dict[str, Any],
    zip: list[list[str]] | None = None,  # noqa: A002 - the REST field's name
    random: dict[str, int] | None = None,
    max_runs: int | None = None,
) -> list[dict[str, Any]]:
    """Every run of the sweep as a dict of dotted key → value, in a stable order.

    With `max_runs`, a sweep that would have more runs raises `SweepTooLarge` before any run
    is built (the count is a product of axis lengths, not an enumeration).
    """
    parsed = {k: parse_spec(k, v) for k, v in params.items()}
    if random is None:
        bad = [k for k, (kind, _) in parsed.items() if kind == "random"]
        if bad:
            raise SweepError(bad[0], "random-search functions need --random N (random={'samples': N})")
        return _grid({k: v for k, (_, v) in parsed.items()}, zip or [], max_runs)
    samples, seed = int(random.get("samples", 0)), int(random.get("seed", 0))
    if samples < 1:
        raise SweepError("random.samples", "must be at least 1")
    if max_runs is not None and samples > max_runs:
        raise SweepTooLarge("random.samples", f"{samples} runs is more than the limit of {max_runs}")
    if zip:
        raise SweepError("zip", "zip groups and random search cannot be combined")
    rng = _random.Random(seed)
    runs = []
    for _ in range(samples):
        run = {}
        for key, (kind, spec) in parsed.items():
            run[key] = _draw(rng, *spec) if kind == "random" else rng.choice(spec)
        runs.append(run)
    return runs


def _grid(axes: dict[str, list[Any]], zip_groups: list[list[str]],
          max_runs: int | None = None) -> list[dict[str, Any]]:
    seen: set[str] = set()
    units: list[list[dict[str, Any]]] = []
    for group in zip_groups:
        if not group:
            raise SweepError("zip", "a zip group needs at least one key")
        for key in group:
            if key not in axes:
                raise SweepError(key, "named in --zip but not swept")
            if key in seen:
                raise SweepError(key, "named in two zip groups")
            seen.add(key)
        lengths = {k: len(axes[k]) for k in group}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise SweepError(group[0], f"zipped keys need equal lengths ({detail})")
        units.append([dict(builtins.zip(group, vals)) for vals in builtins.zip(*(axes[k] for k in group))])
    for key, values in axes.items():
        if key not in seen:
            units.append([{key: v} for v in values])
    if max_runs is not None and math.prod(len(u) for u in units) > max_runs:
        raise SweepTooLarge("params", f"the sweep expands to {math.prod(len(u) for u in units)} runs, "
                            f"more than the limit of {max_runs}")
    runs = []
    for combo in itertools.product(*units):
        run: dict[str, Any] = {}
        for part in combo:
            run.update(part)
        runs.append(run)
    return runs

