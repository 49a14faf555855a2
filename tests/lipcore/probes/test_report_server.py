"""`liplab report` against the real API app (SQLite store, in-process client): the REST shapes
the server really serves — runs of a sweep, metric series, stored probe results."""
import json
import statistics

from fastapi.testclient import TestClient

from liplab.report import report
from server.main import create_app
from server.migrate import upgrade
from server.models import Artifact
from server.settings import Settings
from tests.server.helpers import finish


class NoQueue:
    def enqueue_run(self, *args, **kw):
        pass

    def enqueue_pack(self, *args, **kw):
        pass


def test_report_of_a_stored_sweep(tmp_path):
    url = f"sqlite:///{tmp_path / 'liplab.db'}"
    upgrade(url)
    app = create_app(Settings(home=tmp_path, database_url=url,
                              artifact_dir=tmp_path / "artifacts"), queue=NoQueue())
    accs = {}
    with TestClient(app, base_url="http://testserver") as client:
        body = {"name": "depths", "config": {"data": {"name": "sine"}, "model": {"name": "mlp"}},
                "params": {"model.depth": "1,2", "model.model_seed": "0,1,2"}}
        created = client.post("/api/v1/sweeps", json=body)
        assert created.status_code == 201, created.text
        sweep_id, run_ids = created.json()["id"], created.json()["run_ids"]
        with app.state.sessionmaker() as db:
            for i, rid in enumerate(run_ids):
                depth = client.get(f"/api/v1/runs/{rid}").json()["config"]["model"]["depth"]
                accs.setdefault(depth, []).append(0.1 * i)
                finish(db, rid, "succeeded", [("test_loss", 5, 1.0), ("train_loss", 5, 2.0),
                                              ("test_loss", 10, 0.1 * i)])
            result = tmp_path / "artifacts" / "hessian.json"
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text(json.dumps({"eigenvalues": [3.0, 1.0], "trace": 5.0,
                                          "trace_stderr": 0.1}))
            db.add(Artifact(run_id=run_ids[0], name="hessian", kind="probe", path=str(result)))
            db.commit()
        out = tmp_path / "report"
        assert report(str(sweep_id), out=str(out), client=client) == 0
    depth = (out / "depth_study.md").read_text()
    for d, values in accs.items():  # test_loss per depth group, computed here independently
        cell = f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g} (N=3)"
        assert f"| {d} | 3 |" in depth and cell in depth, (cell, depth)
    cached = json.loads((out / "data" / f"run_{run_ids[0]}.json").read_text())
    assert cached["status"] == "succeeded" and cached["finished_at"]
    assert "hessian_top" in (out / "summary.md").read_text()
    assert (out / "figures" / f"run{run_ids[0]}_hessian.png").exists()
