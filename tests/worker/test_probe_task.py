"""The `liplab.probe` task body: lipcore probes on a finished run's saved checkpoints."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from lipcore.config import validate
from lipcore.probes import PROBES
from server.models import Artifact, Run
from server.settings import Settings
from worker.probes import probe_saved_run
from worker.resume import run_dir

CONFIG = validate({"name": "p", "data": {"name": "sine", "n_train": 32, "n_test": 16},
                   "model": {"name": "mlp", "depth": 2, "width": 8}})


def squared_norm(ctx, scale: float = 1.0) -> dict:
    return {"value": scale * float(sum((p.detach() ** 2).sum() for p in ctx.model.parameters())),
            "steps": [s for s, _ in ctx.checkpoints]}


def test_probe_runs_on_the_last_checkpoint_and_is_stored(sessions, tmp_path, monkeypatch):
    import torch

    from lipcore.data import build_dataset
    from lipcore.models import build_model

    monkeypatch.setitem(PROBES._entries, "squared_norm", squared_norm)
    settings = Settings(home=tmp_path)
    with sessions() as db:
        run = Run(name="p", config=CONFIG, status="succeeded", summary={})
        db.add(run)
        db.commit()
        run_id = run.id
    folder = run_dir(settings.artifacts, run_id) / "checkpoints"
    folder.mkdir()
    model = build_model(CONFIG["model"], build_dataset(CONFIG["data"]))
    torch.save({"model": model.state_dict(), "step": 3}, folder / "step-0003.pt")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    torch.save({"model": model.state_dict(), "step": 7}, folder / "step-0007.pt")
    expected = 0.5 * sum(float((t ** 2).sum()) for t in model.state_dict().values())

    out = probe_saved_run(run_id, ["squared_norm"], {"squared_norm": {"scale": 0.5}},
                          settings=settings, sessions=sessions)
    assert out["squared_norm"]["value"] == pytest.approx(expected, rel=1e-5)
    assert out["squared_norm"]["steps"] == [3, 7]
    with sessions() as db:
        art = db.scalars(select(Artifact).where(Artifact.run_id == run_id)).one()
    assert art.kind == "probe" and json.loads(open(art.path).read()) == out["squared_norm"]


def test_probe_on_a_run_without_checkpoints_says_where_it_looked(sessions, tmp_path):
    with sessions() as db:
        run = Run(name="p", config=CONFIG, status="succeeded", summary={})
        db.add(run)
        db.commit()
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        probe_saved_run(run.id, [], {}, settings=Settings(home=tmp_path), sessions=sessions)
