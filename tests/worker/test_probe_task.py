"""The `liplab.probe` task body: a registered lipcore probe on a finished run's saved checkpoints."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from lipcore.config import validate
from server.models import Artifact, ProbeJob, Run
from server.settings import Settings
from worker.probes import probe_saved_run
from worker.resume import run_dir

CONFIG = validate({"name": "p", "data": {"name": "sine", "n_train": 32, "n_test": 16},
                   "model": {"name": "mlp", "depth": 2, "width": 8},
                   "training": {"epochs": 3, "batch_size": 16, "device": "cpu"}})


def finished_run_with_probe_job(sessions) -> int:
    """A succeeded run (no checkpoints yet) with one queued interpolation ProbeJob; its id."""
    with sessions() as db:
        run = Run(name="p", config=CONFIG, status="succeeded", summary={})
        db.add(run)
        db.flush()
        db.add(ProbeJob(run_id=run.id, probes=["interpolation"], params={}, status="queued"))
        db.commit()
        return run.id


def test_interpolation_probe_on_a_saved_run_matches_the_final_model(sessions, tmp_path):
    import torch

    from lipcore.data import build_dataset
    from lipcore.experiment import run_experiment
    from lipcore.models import build_model

    settings = Settings(home=tmp_path)
    run_id = finished_run_with_probe_job(sessions)
    workdir = run_dir(settings.artifacts, run_id)
    run_experiment(CONFIG, workdir=workdir)  # what the run task left behind: its checkpoints
    params = {"interpolation": {"alpha_min": 0.0, "alpha_max": 1.0, "n_points": 3, "n_examples": None}}
    out = probe_saved_run(run_id, ["interpolation"], params, settings=settings, sessions=sessions)

    # Oracle: the final checkpoint loaded by hand, its mean squared error on the training set.
    final = sorted((workdir / "checkpoints").glob("step_*.pt"))[-1]
    data = build_dataset(CONFIG["data"])
    model = build_model(CONFIG["model"], data).eval()
    model.load_state_dict(torch.load(final, weights_only=False)["model"])
    with torch.no_grad():
        expected = float(((model(data.x_train) - data.y_train) ** 2).mean())
    result = out["interpolation"]
    assert result["alpha"] == [0.0, 0.5, 1.0]
    assert result["train_loss"][-1] == pytest.approx(expected, rel=1e-5)
    with sessions() as db:
        art = db.scalars(select(Artifact).where(Artifact.run_id == run_id, Artifact.kind == "probe")).one()
        job = db.scalars(select(ProbeJob).where(ProbeJob.run_id == run_id)).one()
    assert json.loads(open(art.path).read())["train_loss"] == pytest.approx(result["train_loss"])
    assert job.status == "succeeded"


def test_probe_on_a_run_without_checkpoints_says_so(sessions, tmp_path):
    run_id = finished_run_with_probe_job(sessions)
    with pytest.raises((FileNotFoundError, ValueError), match="checkpoint"):
        probe_saved_run(run_id, ["interpolation"], {}, settings=Settings(home=tmp_path),
                        sessions=sessions)
    with sessions() as db:
        job = db.scalars(select(ProbeJob)).one()
    assert job.status == "failed" and "checkpoint" in job.error


def test_probe_on_an_unknown_run_names_the_id(sessions, tmp_path):
    with pytest.raises(ValueError, match="run_id: run 999 does not exist"):
        probe_saved_run(999, ["interpolation"], {}, settings=Settings(home=tmp_path), sessions=sessions)
