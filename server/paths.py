"""Keeping config values that name files inside the folders a deployment allows.

A run reads `data.root` and probe inputs (`connectivity.other`) on the worker's disk; a client
must not point them at, say, /etc or another user's home. Allowed: the folders in
`LIPLAB_DATA_ROOTS` (os.pathsep-separated; default `LIPLAB_HOME/data`) and the artifact folder
(saved runs). Paths must be absolute; `..` and symbolic links are resolved before the check.
"""
from __future__ import annotations

from pathlib import Path

from lipcore.config import ConfigError, Issue
from server.settings import Settings


def allowed_roots(settings: Settings) -> list[Path]:
    return [*settings.data_root_list, settings.artifacts]


def outside(values: list[tuple[str, str]], roots: list[Path]) -> list[Issue]:
    """An issue for every (key, path) that is not an absolute path inside one of `roots`."""
    resolved = [r.expanduser().resolve() for r in roots]
    where = ", ".join(str(r) for r in resolved)
    issues = []
    for key, value in values:
        p = Path(value).expanduser()
        if not p.is_absolute():
            issues.append(Issue(key, f"must be an absolute path inside {where} (LIPLAB_DATA_ROOTS)"))
        elif not any(p.resolve().is_relative_to(r) for r in resolved):
            issues.append(Issue(key, f"{value!r} is outside the folders runs may read: {where} "
                                     "(LIPLAB_DATA_ROOTS)"))
    return issues


def confine(values: list[tuple[str, str]], roots: list[Path]) -> None:
    """ConfigError naming each key whose path is outside `roots`."""
    issues = outside(values, roots)
    if issues:
        raise ConfigError(issues)
