"""A run as something to submit again: its config as YAML, its overrides as `key=value`
lines, the `liplab submit` command line, and which of its artifacts are pictures."""
from __future__ import annotations

import shlex
from pathlib import PurePosixPath

import yaml

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")


def config_yaml(run: dict) -> str:
    """The run's full config (its overrides already applied), as the submit page's editor holds it."""
    return yaml.safe_dump(run["config"], sort_keys=False)


def override_value(value) -> str:  # noqa: ANN001
    """One scalar override as `liplab submit` parses it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def override_lines(run: dict) -> list[str]:
    """`key=value` for each scalar sweep value that made this run (none for a single run).

    A list or mapping value is left out: an override's commas would make it a sweep axis, and
    the config already holds it."""
    return [f"{k}={override_value(v)}" for k, v in (run.get("overrides") or {}).items()
            if not isinstance(v, (list, dict))]


def cli_command(run: dict, config_url: str) -> str:
    """Shell lines that fetch the run's config and submit it again with the same overrides
    (applying them to the full config changes nothing; they show what the sweep varied)."""
    path = f"run-{run['id']}.yaml"
    words = ["liplab", "submit", path, *override_lines(run)]
    return f"curl -so {path} {shlex.quote(config_url)}\n" + " ".join(shlex.quote(w) for w in words)


def is_image(artifact: dict) -> bool:
    return artifact.get("kind") in ("figure", "image") or \
        PurePosixPath(artifact.get("name", "")).suffix.lower() in IMAGE_SUFFIXES


def error_parts(error: str | None) -> tuple[str, str] | None:
    """(the one-line reason, the whole text with its traceback); None without an error.

    The reason is the last non-empty line (where Python puts the exception), else the first."""
    if not error:
        return None
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    reason = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return reason.strip(), error
