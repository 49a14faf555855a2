"""`liplab submit` against a real HTTP server (uvicorn in a thread) on a throwaway store."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
import uvicorn
import yaml

from liplab.cli import main
from server.main import create_app
from tests.server.conftest import RecordingQueue, make_settings
from tests.server.helpers import QUICK, finish


@pytest.fixture
def api(tmp_path, sqlite_template, monkeypatch):
    shutil.copy(sqlite_template, tmp_path / "s.db")
    queue = RecordingQueue()
    app = create_app(make_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path), queue=queue)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    monkeypatch.setenv("LIPLAB_URL", f"http://127.0.0.1:{port}")
    cfg = tmp_path / "quick.yaml"
    cfg.write_text(yaml.safe_dump(QUICK))
    yield app, queue, str(cfg)
    server.should_exit = True
    thread.join(10)
    app.state.engine.dispose()


def test_submit_a_run_and_a_sweep(api, capsys):
    app, queue, cfg = api
    assert main(["submit", cfg, "training.lr=0.05"]) == 0
    assert capsys.readouterr().out.startswith("run 1: queued")
    assert main(["submit", cfg, "training.lr=0.1,0.01", "model.width=8..32..8", "--name", "grid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sweep 1: 6 runs") and "/sweeps/1" in out
    assert main(["submit", cfg, "model.width=8,16", "training.lr=0.1,0.01", "--zip",
                 "model.width,training.lr", "--name", "zipped"]) == 0
    assert "2 runs" in capsys.readouterr().out
    assert main(["submit", cfg, "training.lr=logfloat(1e-4,1e-1)", "--random", "5",
                 "--random-seed", "1", "--name", "rand"]) == 0
    assert "5 runs" in capsys.readouterr().out
    assert main(["submit", cfg, "training.lr=0.1,0.01,0.001", "--name", "grid"]) == 0
    assert "already done or in flight" in capsys.readouterr().out  # skip-completed
    assert len(queue.run_ids()) == 1 + 6 + 2 + 5 + 1


def test_submit_errors_name_the_key(api, capsys):
    _, queue, cfg = api
    assert main(["submit", cfg, "training.lrr=0.1"]) == 2
    assert "training.lrr" in capsys.readouterr().err
    assert main(["submit", cfg, "training.lrr=0.1,0.2"]) == 2  # swept: refused by the API
    err = capsys.readouterr().err
    assert "refused (422)" in err and "training.lrr" in err
    assert main(["submit", cfg, "model.width=8,16", "training.lr=0.1,0.2,0.3", "--zip",
                 "model.width,training.lr"]) == 2
    assert "equal lengths" in capsys.readouterr().err
    assert queue.sent == []


def test_submit_wait_shows_progress_until_runs_end(api, capsys):
    app, queue, cfg = api

    def worker() -> None:
        while len(queue.run_ids()) < 3:
            time.sleep(0.05)
        with app.state.sessionmaker() as db:
            for i, run_id in enumerate(queue.run_ids()):
                finish(db, run_id, "failed" if i == 2 else "succeeded", [("train_loss", 0, 1.0 + i)])

    t = threading.Thread(target=worker)
    t.start()
    from liplab import submit
    code = submit.submit(cfg, ["training.lr=0.1,0.2,0.3"], api_url=os.environ["LIPLAB_URL"],
                         token=None, wait=True)
    t.join()
    assert code == 1  # one run failed
    err = capsys.readouterr().err
    assert "3/3" in err and "best_train_loss=1" in err
