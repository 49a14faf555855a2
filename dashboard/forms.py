"""The submit form's pure parts: YAML text ↔ config, override lines → sweep params, and where
in the YAML text each validation issue belongs (so the message sits next to its key)."""
from __future__ import annotations

from typing import Any

import yaml


def parse_yaml(text: str) -> tuple[dict | None, str | None]:
    """(config, None) or (None, the YAML error with its line)."""
    try:
        data = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as e:
        return None, f"YAML: {e}"
    if not isinstance(data, dict):
        return None, "YAML: the config must be a mapping of sections (data:, model:, training:, …)"
    return data, None


def parse_overrides(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """`key=value` lines (comments and blanks skipped) → ({key: spec}, {line: error}).

    Specs stay strings: the API expands lists `a,b`, ranges `0..10..2` and random specs.
    """
    params, errors = {}, {}
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, spec = line.partition("=")
        if not eq or not key.strip() or not spec.strip():
            errors[f"line {n}"] = f"expected key=value, got {line!r}"
            continue
        params[key.strip()] = spec.strip()
    return params, errors


def parse_zip(text: str) -> list[list[str]] | None:
    """'model.width,training.lr; a,b' → [["model.width", "training.lr"], ["a", "b"]]."""
    groups = [[k.strip() for k in g.split(",") if k.strip()] for g in (text or "").split(";")]
    groups = [g for g in groups if g]
    return groups or None


def key_lines(text: str) -> dict[str, int]:
    """Dotted key → 0-based line number where it is written in a block-style YAML mapping.

    Nesting follows indentation; flow mappings on one line (`data: {name: sine}`) map their
    inner keys to that same line.
    """
    out: dict[str, int] = {}
    stack: list[tuple[int, str]] = []  # (indent, key)
    for n, raw in enumerate(text.splitlines()):
        line = raw.split(" #", 1)[0].rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(stripped)
        key = stripped.split(":", 1)[0].strip().strip("'\"")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        out.setdefault(dotted, n)
        rest = stripped.split(":", 1)[1].strip()
        if rest.startswith("{"):
            try:
                inner = yaml.safe_load(rest)
            except yaml.YAMLError:
                inner = None
            if isinstance(inner, dict):
                for k in _flat_keys(inner, dotted):
                    out.setdefault(k, n)
        stack.append((indent, key))
    return out


def _flat_keys(d: dict[str, Any], prefix: str) -> list[str]:
    keys = []
    for k, v in d.items():
        keys.append(f"{prefix}.{k}")
        if isinstance(v, dict):
            keys += _flat_keys(v, f"{prefix}.{k}")
    return keys


def line_for(key: str, lines: dict[str, int]) -> int | None:
    """The line of `key`, or of its closest written parent (an unknown key's section)."""
    parts = key.split(".")
    while parts:
        if ".".join(parts) in lines:
            return lines[".".join(parts)]
        parts.pop()
    return None


def annotate(text: str, issues: list[tuple[str, str]]) -> list[tuple[int, str, list[str]]]:
    """[(line number, line text, [messages for that line])] — messages put next to their key;
    issues whose key is nowhere in the text go on a final pseudo-line (-1)."""
    lines = key_lines(text)
    by_line: dict[int, list[str]] = {}
    for key, msg in issues:
        n = line_for(key, lines)
        by_line.setdefault(-1 if n is None else n, []).append(f"{key}: {msg}" if key else msg)
    rows = [(n, line, by_line.get(n, [])) for n, line in enumerate(text.splitlines())]
    if -1 in by_line:
        rows.append((-1, "", by_line[-1]))
    return rows
