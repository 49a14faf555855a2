"""Checkpoint files: everything a run needs to continue exactly where it was.

`<dir>/step_<n>.pt` holds {"step", "model", "models", "optimizers", "control", "sampler",
"stoppers", "rng", …}; `latest(dir)` finds the newest; `load` reads one back as that dict;
`snapshots(dir)` yields (step, model state) oldest first (the trajectory probes read).

On disk, "step" and "model" (the first model's state_dict) are plain, so
any tool that loads the file finds a state_dict under "model"; everything else sits under "flat":
its tensors concatenated into one buffer per (device, dtype) and the tree that holds them with
each tensor replaced by a `(FLAT_TENSOR, buffer, offset, shape)` tuple. torch.save pickles a
dozen objects per tensor (≈ 12 µs each), and a run's optimizer state is a hundred small
tensors: a packed member's checkpoint took ≈ 2 ms to write as nested tensors, a third of
that flat. "models"[0], a run's first model again, is stored once: `MODEL_AGAIN` holds its
slot. Files written before the flat form (no "flat" key) load as they are.
"""
from __future__ import annotations

import io
import math
import pickle
import re
from pathlib import Path
from typing import Any, Callable

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
    rest = {"rng": rng_state(), **payload}
    rest.pop("step", None)
    plain = {"step": step}
    if "model" in rest:
        model = rest.pop("model")
        plain["model"] = compact(model)
        models = rest.get("models")
        if isinstance(models, list) and models and models[0] is model:
            rest["models"] = [MODEL_AGAIN, *models[1:]]
    try:  # through a Python file, so a full disk surfaces as the OSError that says so
        with open(tmp, "wb") as f:
            torch.save({**plain, "flat": flatten(rest)}, f)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def _map_leaves(tree: Any, fn: Callable[[Any], Any], is_leaf: Callable[[Any], bool] = torch.is_tensor) -> Any:
    """`tree` (dicts, lists, tuples) with `fn` applied to every leaf that `is_leaf` picks."""
    if is_leaf(tree):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map_leaves(v, fn, is_leaf) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map_leaves(v, fn, is_leaf) for v in tree)
    return tree


def _view_key(t: torch.Tensor) -> tuple:
    """What makes two tensors the same view of the same storage (seen through two state dicts)."""
    return t.untyped_storage().data_ptr(), t.storage_offset(), t.shape, t.stride(), t.dtype


def compact(tree: Any) -> Any:
    """`tree` with every tensor that is a view into a larger storage copied out (once, so
    tensors shared within the tree stay shared): torch.save writes a tensor's whole storage,
    so a packed member's parameters (slices of the (P, …) stacks) would otherwise write all P
    members' into every checkpoint."""
    copies: dict[tuple, torch.Tensor] = {}

    def own(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().nbytes() <= t.nbytes:
            return t
        key = _view_key(t)
        if key not in copies:
            copies[key] = t.clone()
        return copies[key]

    return _map_leaves(tree, own)


FLAT_TENSOR = "\0tensor"
#: "models"[0] when it is the state dict stored under "model" (a run's first model): stored once
MODEL_AGAIN = "\0model"


def flatten(tree: Any) -> dict[str, Any]:
    """{"tree", "buffers"}: `tree` (dicts, lists, tuples, tensors, plain values) with each tensor
    a placeholder into `buffers` ({"<device>/<dtype>": 1-D tensor}), pickled to bytes by the C
    pickler (torch.save calls a Python hook for every object it pickles: ≈ 1 µs each, a dozen
    per placeholder); a tensor seen twice (the same view of the same storage) is stored once
    and comes back shared."""
    parts: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}
    seen: dict[tuple, tuple] = {}
    names: dict[tuple, str] = {}

    def place(t: torch.Tensor) -> tuple:
        key = _view_key(t)
        if key not in seen:
            kind = (t.device, t.dtype)
            if kind not in names:
                names[kind] = f"{t.device}/{str(t.dtype).removeprefix('torch.')}"
            name = names[kind]
            parts.setdefault(name, []).append(t)
            seen[key] = (FLAT_TENSOR, name, sizes.get(name, 0), tuple(t.shape))
            sizes[name] = sizes.get(name, 0) + t.numel()
        return seen[key]

    flat_tree = pickle.dumps(_map_leaves(tree, place), protocol=pickle.HIGHEST_PROTOCOL)
    with torch.no_grad():  # one copy into each buffer, in C++ (no per-tensor reshape + cat)
        buffers = {k: torch._utils._flatten_dense_tensors(v) for k, v in parts.items()}
    return {"tree": flat_tree, "buffers": buffers}


class _PlainUnpickler(pickle.Unpickler):
    """Reads containers and plain values only: a pickle that names any class or function (the
    way a hostile file would run code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a checkpoint's tree names {module}.{name}")


def _is_placeholder(t: Any) -> bool:
    return isinstance(t, tuple) and len(t) == 4 and t[0] == FLAT_TENSOR


def unflatten(flat: dict[str, Any]) -> Any:
    """The tree `flatten` took apart, each tensor its own copy (shared ones shared again)."""
    buffers, made = flat["buffers"], {}

    def rebuild(t: tuple) -> torch.Tensor:
        _, name, offset, shape = t
        if (name, offset) not in made:
            made[name, offset] = buffers[name][offset:offset + math.prod(shape)].view(shape).clone()
        return made[name, offset]

    return _map_leaves(_PlainUnpickler(io.BytesIO(flat["tree"])).load(), rebuild, _is_placeholder)


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
    stored = safe_load(p)
    if isinstance(stored, dict) and isinstance(stored.get("flat"), dict):
        try:
            rest = unflatten(stored["flat"])
        except pickle.UnpicklingError as e:
            raise ValueError(f"{p}: not a plain checkpoint (only tensors, numbers, strings, lists "
                             f"and dicts are read): {e}") from None
        stored = {**{k: v for k, v in stored.items() if k != "flat"}, **rest}
        models = stored.get("models")
        if isinstance(models, list) and models and models[0] == MODEL_AGAIN:
            stored["models"] = [stored["model"], *models[1:]]
    return stored


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
