"""Checkpoint files: everything a run needs to continue exactly where it was.

`<dir>/step_<n>.pt` holds {"step", "model", "optimizer", "control", "sampler", "stoppers",
"rng", "extra"}; `latest(dir)` finds the newest; `snapshots(dir)` yields (step, model state)
oldest first (the trajectory probes read).
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: str | Path, step: int, payload: dict[str, Any]) -> Path:
    """Write `payload` (plus the RNG states) atomically to `<directory>/step_<step>.pt`."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:08d}.pt"
    tmp = path.with_suffix(".tmp")
    try:  # through a Python file, so a full disk surfaces as the OSError that says so
        with open(tmp, "wb") as f:
            torch.save({"step": step, "rng": rng_state(), **payload}, f)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def compact(tree: Any, copies: dict[tuple, torch.Tensor] | None = None) -> Any:
    """`tree` with every tensor that is a view into a larger storage copied out (once, so
    tensors shared within the tree stay shared): torch.save writes a tensor's whole storage,
    so a packed member's parameters and optimizer state (slices of the (P, …) stacks) would
    otherwise write all P members' into every checkpoint."""
    copies = {} if copies is None else copies
    if torch.is_tensor(tree):
        if tree.untyped_storage().nbytes() <= tree.nbytes:
            return tree
        key = (tree.untyped_storage().data_ptr(), tree.storage_offset(), tree.shape,
               tree.stride(), tree.dtype)  # the same slice seen through several tensors
        if key not in copies:
            copies[key] = tree.clone()
        return copies[key]
    if isinstance(tree, dict):
        return {k: compact(v, copies) for k, v in tree.items()}
    if isinstance(tree, list):
        return [compact(v, copies) for v in tree]
    return tree


def listing(directory: str | Path) -> list[tuple[int, Path]]:
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.search(p.name))]
    return sorted(found)


def latest(directory: str | Path) -> Path | None:
    items = listing(directory)
    return items[-1][1] if items else None


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint file, or the newest one in a directory; FileNotFoundError naming the path."""
    p = Path(path)
    if p.is_dir():
        found = latest(p)
        if found is None:
            raise FileNotFoundError(f"resume_from: no step_*.pt checkpoint in {p}")
        p = found
    if not p.is_file():
        raise FileNotFoundError(f"resume_from: checkpoint not found: {p}")
    return safe_load(p)


def safe_load(path: str | Path) -> Any:
    """`torch.load` that only rebuilds tensors and plain containers (`weights_only=True`): a file
    a user points at (resume_from, a probe's saved run) cannot run code when it is read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: not a plain checkpoint (only tensors, numbers, strings, lists "
                         f"and dicts are read): {str(e).splitlines()[0]}") from None


def snapshots(directory: str | Path, up_to: int | None = None) -> list[tuple[int, dict]]:
    """(step, model state_dict) of every checkpoint in `directory` (at most `up_to`)."""
    out = []
    for step, path in listing(directory):
        if up_to is None or step <= up_to:
            out.append((step, safe_load(path)["model"]))
    return out
