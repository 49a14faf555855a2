"""A run whose numbers blow up ends `diverged` in the store with a one-line reason, also when
the blow-up surfaces as a linear-algebra error inside an LDLT layer's Cholesky."""
from __future__ import annotations

from server.models import Run
from server.settings import Settings
from worker.runner import execute_run

BLOW_UP = {"name": "blow_up", "data": {"name": "sine", "n_train": 32, "n_test": 16},
           "model": {"name": "lipschitz_sequential", "layer": "ldlt", "depth": 2, "width": 8},
           "training": {"optimizer": "sgd", "lr": 1e6, "epochs": 2, "batch_size": 16, "device": "cpu"}}


def test_a_blow_up_in_the_worker_ends_diverged_with_the_reason(sessions, tmp_path):
    with sessions() as db:
        run = Run(name="r", config=BLOW_UP, status="queued", summary={})
        db.add(run)
        db.commit()
        run_id = run.id
    out = execute_run(run_id, worker="me", settings=Settings(artifact_dir=tmp_path, run_heartbeat_s=3600),
                      sessions=sessions, bus=None, enqueue=lambda rid: None)
    with sessions() as db:
        run = db.get(Run, run_id)
        assert out == run.status == "diverged"
        assert run.error.startswith("diverged at step ") and "cholesky" in run.error
        assert "\n" not in run.error and "Traceback" not in run.error
