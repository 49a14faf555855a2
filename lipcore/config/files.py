"""Config values that name files or folders on the machine that runs the experiment.

`data.root` (also under a comparative config's `shared`, `model_a`, `model_b`) and the probe
parameters that point at a saved run (`connectivity.other`). A deployment confines them to the
folders it allows (the server's `LIPLAB_DATA_ROOTS`); lipcore itself reads whatever it is given.
"""
from __future__ import annotations

from typing import Any

PROBE_FILE_PARAMS: dict[str, tuple[str, ...]] = {"connectivity": ("other",)}


def probe_file_values(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, path) in probe parameters by probe name: {"connectivity": {"other": ...}}."""
    out = []
    for name, names in PROBE_FILE_PARAMS.items():
        given = params.get(name) if isinstance(params, dict) else None
        for param in names:
            if isinstance(given, dict) and isinstance(given.get(param), str):
                out.append((f"{prefix}{name}.{param}", given[param]))
    return out


def file_values(cfg: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, path) of every config value that names a file or folder."""
    out = []
    data = cfg.get("data")
    if isinstance(data, dict) and isinstance(data.get("root"), str):
        out.append((f"{prefix}data.root", data["root"]))
    for i, spec in enumerate(cfg.get("probes") or []):
        if isinstance(spec, dict):
            for param in PROBE_FILE_PARAMS.get(spec.get("name"), ()):
                if isinstance(spec.get(param), str):
                    out.append((f"{prefix}probes.{i}.{param}", spec[param]))
    for side in ("shared", "model_a", "model_b"):
        if isinstance(cfg.get(side), dict):
            out += file_values(cfg[side], f"{prefix}{side}.")
    return out
