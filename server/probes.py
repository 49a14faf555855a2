"""Probe jobs on finished runs, and where their results live.

The API stores a `ProbeJob` and sends task `liplab.probe(run_id, probe_names, params)`. The
worker computes each probe and calls `store_probe_result(session, run_id, name, data)`: the JSON
goes to `<artifacts>/runs/<run_id>/probes/<name>.json` with an artifact row of kind `probe`, and
an open job is marked succeeded once all its probes have a result. A worker that fails calls
`fail_probe_jobs(session, run_id, error)`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.artifact_store import local_copy
from server.models import Artifact, ProbeJob, utcnow
from server.settings import get_settings

OPEN = ("queued", "running")


def _clean(x: Any) -> Any:
    """JSON-safe: non-finite floats become null, tuples lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def create_probe_job(session: Session, *, run_id: int, probes: list[str],
                     params: dict[str, Any]) -> ProbeJob:
    job = ProbeJob(run_id=run_id, probes=list(probes), params=params, status="queued")
    session.add(job)
    session.flush()
    return job


def store_probe_result(session: Session, run_id: int, name: str, data: Any,
                       artifact_dir: Path | None = None) -> Artifact:
    """Write one probe's result as JSON and record it; commits. A rerun replaces the file."""
    root = Path(artifact_dir or get_settings().artifacts)
    path = root / "runs" / str(run_id) / "probes" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data)))
    art = session.scalar(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name,
                                                Artifact.kind == "probe"))
    if art is None:
        art = Artifact(run_id=run_id, name=name, kind="probe", path=str(path))
        session.add(art)
    else:
        art.path, art.created_at = str(path), utcnow()
    session.flush()
    done = set(session.scalars(select(Artifact.name).where(Artifact.run_id == run_id,
                                                           Artifact.kind == "probe")))
    for job in session.scalars(select(ProbeJob).where(ProbeJob.run_id == run_id,
                                                      ProbeJob.status.in_(OPEN))):
        if name in job.probes and job.status == "queued":
            job.status = "running"
        if set(job.probes) <= done and _newer_than(session, run_id, job):
            job.status, job.finished_at = "succeeded", utcnow()
    session.commit()
    return art


def _newer_than(session: Session, run_id: int, job: ProbeJob) -> bool:
    """Every probe of `job` has a result written after the job was created."""
    created = job.created_at
    for art in session.scalars(select(Artifact).where(Artifact.run_id == run_id,
                                                      Artifact.kind == "probe",
                                                      Artifact.name.in_(job.probes))):
        if art.created_at < created:
            return False
    return True


def fail_probe_jobs(session: Session, run_id: int, error: str) -> None:
    """Mark the run's open probe jobs failed with `error`; commits."""
    for job in session.scalars(select(ProbeJob).where(ProbeJob.run_id == run_id,
                                                      ProbeJob.status.in_(OPEN))):
        job.status, job.error, job.finished_at = "failed", error[-4000:], utcnow()
    session.commit()


def probe_results(session: Session, run_id: int) -> dict[str, Any]:
    """{name: result} for every stored probe of the run (unreadable files say so)."""
    out: dict[str, Any] = {}
    for art in session.scalars(select(Artifact).where(Artifact.run_id == run_id,
                                                      Artifact.kind == "probe").order_by(Artifact.name)):
        try:
            out[art.name] = json.loads(local_copy(get_settings(), run_id, art.path).read_text())
        except (OSError, ValueError) as e:
            out[art.name] = {"error": f"result unreadable: {type(e).__name__}"}
    return out
