"""Where a redelivered run picks up: its working folder (checkpoints) and its last stored step.

`run_experiment(config, reporter, workdir=run_dir(...))` keeps its checkpoints in the run's own
folder under the artifact directory, so whichever worker claims the run next finds them (the
folder must be shared storage when workers sit on several machines). The store says how far the
metrics got: batches are written in order, so every step before `last_stored_step` is complete
(the last one may lack points logged by a later call), and the reporter drops those steps if
training replays them; the last one is written again, which the upsert makes harmless. When lipcore resumes from a checkpoint it
tells the reporter (`DBReporter.resumed(step)`); when it cannot, it replays deterministically
from the start and the store still ends with every point exactly once.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import MetricPoint


def run_dir(artifacts: Path, run_id: int) -> Path:
    """The run's working folder, `<artifacts>/runs/<id>/` (checkpoints under `checkpoints/`)."""
    path = Path(artifacts) / "runs" / str(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def last_stored_step(db: Session, run_id: int) -> int:
    """The highest step with stored points, -1 when none: every step before it is complete."""
    step = db.scalar(select(func.max(MetricPoint.step)).where(MetricPoint.run_id == run_id))
    return -1 if step is None else int(step)


def forget_unstored_attempt(folder: Path, last_step: int, mirror: Any = None) -> None:
    """Empty the run's folder when the store holds no step of it (`last_step` -1).

    Points up to a checkpoint are stored before the checkpoint is written, so a folder with
    checkpoints but no stored step belongs to an attempt whose points were deleted — a run
    re-run from scratch (`overwrite`). Resuming from its checkpoints would log nothing and
    reuse its probe results; starting afresh is what the user asked for. (A first attempt
    stopped before any point was stored loses at most its step-0 checkpoint.) With an
    object-store `mirror` (a `RunMirror`), its remote copy goes too, or the next worker to take
    the run would pull the old attempt's checkpoints back.
    """
    if last_step >= 0:
        return
    if mirror is not None:
        mirror.forget()
    if not folder.exists():
        return
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
