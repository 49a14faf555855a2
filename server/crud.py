"""Every write with more than one statement, with keyword-only arguments."""
from __future__ import annotations

import builtins
import hashlib
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lipcore.config import apply_overrides, validate
from lipcore.packing import group_packs
from lipcore.sweep import SweepError, SweepTooLarge, expand
from server.models import MetricPoint, Run, Sweep, utcnow

RETRYABLE = ("failed", "diverged", "cancelled")


NAME_MAX = 200


#: keys that decide how a run is scheduled, not what it computes: left out of the hash, so a
#: finished run is reused whatever pack size it was trained in.
SCHEDULING_KEYS = {"training": ("pack_size",)}


def config_hash(cfg: dict[str, Any]) -> str:
    """sha256 of the validated config without its `name` and scheduling keys: equal experiments
    hash equal."""
    body = {k: v for k, v in cfg.items() if k != "name"}
    for section, keys in SCHEDULING_KEYS.items():
        if isinstance(body.get(section), dict):
            body[section] = {k: v for k, v in body[section].items() if k not in keys}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def queue_for(cfg: dict[str, Any]) -> str:
    """The Celery queue of a run: `cpu` when `training.device` is cpu, else `gpu`."""
    device = str((cfg.get("training") or {}).get("device") or "auto")
    return "cpu" if device == "cpu" else "gpu"


def create_run(db: Session, *, config: dict[str, Any], name: str | None = None,
               sweep_id: int | None = None, overrides: dict[str, Any] | None = None) -> Run:
    """A queued run with a validated config (ConfigError propagates to the edge)."""
    cfg = validate(config)
    run = Run(name=(name or cfg["name"])[:NAME_MAX], config=cfg, sweep_id=sweep_id, overrides=overrides or {},
              status="queued", summary={}, config_hash=config_hash(cfg))
    db.add(run)
    db.flush()
    return run


def reset_run(db: Session, *, run: Run, clear: bool = False) -> None:
    """Back to queued; with `clear` its metric points and summary are deleted too (overwrite)."""
    run.status, run.error, run.cancel_requested, run.attempts = "queued", None, 0, 0
    run.started_at = run.finished_at = run.heartbeat_at = None
    run.worker = None
    if clear:
        db.execute(delete(MetricPoint).where(MetricPoint.run_id == run.id))
        run.summary = {}


def create_sweep(db: Session, *, config: dict[str, Any], params: dict[str, Any],
                 name: str | None = None, zip: list[list[str]] | None = None,  # noqa: A002
                 random: dict[str, int] | None = None, max_runs: int = 10_000,
                 overwrite: bool = False,
                 fail_fast: bool = False) -> tuple[Sweep, list[Run], list[Run]]:
    """Expand and validate every member before writing anything, then store the sweep.

    A sweep submitted again under an existing name is the same sweep: members whose config
    already succeeded (or is queued or running) are reused, failed ones are queued again, new
    ones are added. `overwrite` re-runs succeeded members too, from scratch.
    Returns (sweep, members in expansion order, runs to enqueue).
    """
    base = validate(config)
    members = expand(params, zip=zip, random=random, max_runs=max_runs)
    if len(members) > max_runs:  # a guard; expand already refuses before building them
        raise SweepTooLarge("params", f"{len(members)} runs is more than the limit of {max_runs}")
    if not members:
        raise SweepError("params", "the sweep has no runs")
    configs = [validate(apply_overrides(base, m)) for m in members]
    sweep_name = (name or base["name"])[:NAME_MAX]
    sweep = db.scalar(select(Sweep).where(Sweep.name == sweep_name).order_by(Sweep.id.desc()).limit(1))
    old: dict[str, list[Run]] = defaultdict(list)
    if sweep is None:
        sweep = Sweep(name=sweep_name, config=base, params=params, fail_fast=fail_fast)
        db.add(sweep)
        db.flush()
    else:
        sweep.config, sweep.params, sweep.fail_fast = base, params, fail_fast
        for run in db.scalars(select(Run).where(Run.sweep_id == sweep.id).order_by(Run.id)):
            old[run.config_hash].append(run)
    n_before = sum(len(v) for v in old.values())
    chosen, to_queue, new = [], [], []
    for cfg, member in builtins.zip(configs, members):
        h = config_hash(cfg)
        if old[h]:
            run = old[h].pop(0)
            if run.status in RETRYABLE or (overwrite and run.status == "succeeded"):
                reset_run(db, run=run, clear=overwrite)
                to_queue.append(run)
        else:
            suffix = f"-{n_before + len(new)}"
            run = Run(name=sweep.name[:NAME_MAX - len(suffix)] + suffix, config=cfg, sweep_id=sweep.id,
                      overrides=member, status="queued", summary={}, config_hash=h)
            new.append(run)
            to_queue.append(run)
        chosen.append(run)
    db.add_all(new)
    db.flush()
    return sweep, chosen, to_queue


def assign_packs(db: Session, *, runs: list[Run]) -> list[list[Run]]:
    """Group `runs` (queued members of one sweep) into packs (`lipcore.packing.group_packs`:
    alike configs, at most `training.pack_size` each); a pack of several gets `pack_id` = its
    first run's id, a run alone none. Returns the packs, each sent to the workers as one job."""
    packs = [[runs[i] for i in group] for group in group_packs([r.config for r in runs])]
    for pack in packs:
        pack_id = min(r.id for r in pack) if len(pack) > 1 else None
        for run in pack:
            run.pack_id = pack_id
    db.flush()
    return packs


def retry_failed(db: Session, *, sweep_id: int) -> list[Run]:
    """Queue again the failed, diverged and cancelled members of a sweep (not the others)."""
    runs = db.scalars(select(Run).where(Run.sweep_id == sweep_id, Run.status.in_(RETRYABLE))
                      .order_by(Run.id)).all()
    for run in runs:
        reset_run(db, run=run)
    db.flush()
    return list(runs)


def cancel(db: Session, *, runs: list[Run]) -> None:
    """Queued runs are cancelled at once; running ones are asked to stop at their next step."""
    now = utcnow()
    for run in runs:
        if run.status == "queued":
            run.status, run.error, run.finished_at = "cancelled", "cancelled before start", now
        elif run.status == "running":
            run.cancel_requested = 1
    db.flush()


def status_counts(db: Session, *, sweep_id: int) -> dict[str, int]:
    rows = db.execute(select(Run.status, func.count()).where(Run.sweep_id == sweep_id)
                      .group_by(Run.status))
    return {status: n for status, n in rows}
