"""`run_pack`: the configs of one pack in, one summary per member out (as `run_experiment`
gives for each alone).

Members whose shared config vectorises (`lipcore.packing.vectorised_reason`) train together
(`lipcore.training.pack`), in groups sized to the device's memory when a `PackSizer` is given
(`lipcore.training.pack_memory`: on CUDA; one group on the CPU); otherwise they train one after
another in this process, sharing the imports and the data sets already built. A member that fails does not stop the others:
its summary says `failed` with the error.
"""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from lipcore.config import validate
from lipcore.packing import pack_key, vectorised_reason
from lipcore.reporting import NullReporter


def run_pack(configs: Sequence[dict[str, Any]], reporters: Sequence[Any] | None = None,
             workdirs: Sequence[str | Path | None] | None = None,
             resume_from: str | None = None,
             flush_many: Callable[[list[Any]], None] | None = None,
             sizer: Any = None) -> list[dict[str, Any]]:
    """Train `configs` as one pack. reporters/workdirs: one per member (None: discard /
    no folder); resume_from: None or "auto" (each member from the newest checkpoint that every
    unfinished member has, so the pack restarts in step); flush_many(reporters): stores the
    members' buffered points together (default: each reporter flushes alone); sizer: a
    `pack_memory.PackSizer` that cuts the pack into vectorised groups that fit the device
    (None: one group)."""
    cfgs = [validate(c) for c in configs]
    n = len(cfgs)
    reporters = list(reporters or [None] * n)
    reporters = [r or NullReporter() for r in reporters]
    workdirs = list(workdirs or [None] * n)
    keys = {pack_key(c) for c in cfgs}
    if n > 1 and len(keys) == 1 and None not in keys and vectorised_reason(cfgs[0]) is None:
        return _vectorised(cfgs, reporters, workdirs, resume_from, flush_many, sizer)
    return [_solo(c, r, w, resume_from) for c, r, w in zip(cfgs, reporters, workdirs)]


def _solo(cfg: dict[str, Any], reporter: Any, workdir: Any, resume_from: Any) -> dict[str, Any]:
    from lipcore.experiment import run_experiment

    try:
        return run_experiment(cfg, reporter, workdir=workdir, resume_from=resume_from)
    except Exception:  # noqa: BLE001 - one member's failure is its own
        return failed_summary(traceback.format_exc(limit=8)[-4000:])


def failed_summary(error: str) -> dict[str, Any]:
    return {"status": "failed", "steps": 0, "final": {}, "error": error, "stopped_by": None,
            "diverged": None, "resumed_from": None}


def _vectorised(cfgs: list[dict], reporters: list, workdirs: list, resume_from: Any,
                flush_many: Callable[[list[Any]], None] | None, sizer: Any = None) -> list[dict]:
    from lipcore.data import build_dataset
    from lipcore.experiment import _run_probes, check_model_fits
    from lipcore.models import build_model
    from lipcore.training.loop import Engine, make_member, pick_device
    from lipcore.training.pack import train_pack
    from lipcore.training.pack_memory import groups

    datasets: dict[str, Any] = {}
    engines, folders = [], []
    for cfg, reporter, workdir in zip(cfgs, reporters, workdirs):
        key = repr(sorted(cfg["data"].items()))
        if key not in datasets:
            datasets[key] = build_dataset(cfg["data"])
        data = datasets[key]
        check_model_fits(cfg, data)
        model = build_model(cfg["model"], data)
        device = pick_device(cfg["training"]["device"])
        folder = Path(workdir) / "checkpoints" if workdir is not None else None
        folders.append(folder)
        engines.append(Engine([make_member(model, data, cfg["training"], device)], data, cfg,
                              reporter, None, folder, device))
    resumes = _resumes(folders) if resume_from == "auto" else [None] * len(cfgs)
    size = sizer.group_size(engines) if sizer is not None else len(engines)
    results = []
    for group in groups(len(engines), size):
        results += train_pack([engines[i] for i in group], [resumes[i] for i in group], flush_many)
    summaries = []
    for cfg, engine, result, resume, reporter, workdir, folder in zip(
            cfgs, engines, results, resumes, reporters, workdirs, folders):
        summary = {"status": result.status, "steps": result.steps, "final": result.final,
                   "error": result.error, "stopped_by": result.stopped_by,
                   "diverged": result.diverged, "resumed_from": resume["step"] if resume else None}
        if cfg["probes"] and result.status == "succeeded":
            summary["probes"] = sorted(_run_probes(cfg, engine, reporter, workdir, folder))
        summaries.append(summary)
    return summaries


def _resumes(folders: list[Path | None]) -> list[dict[str, Any] | None]:
    """Each member's checkpoint at the newest step that every member has (a pack killed
    between two members' writes restarts them all from the earlier one, so they stay in
    step); a fresh start when some member has none."""
    from lipcore.training import checkpoints

    listings = [dict(checkpoints.listing(f)) if f is not None else {} for f in folders]
    common = set.intersection(*(set(found) for found in listings))
    if not common:
        return [None] * len(folders)
    step = max(common)
    return [checkpoints.load(found[step]) for found in listings]
