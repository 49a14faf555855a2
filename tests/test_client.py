"""`liplab.client.Client` and the CLI verbs against a real API process and a real worker process.

One embedded system (SQLite + filesystem broker) for the module; runs are the quickstart with a
few epochs, so the whole module takes seconds of training.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from liplab.cli import main
from liplab.client import Client, ClientError, Unreachable
from tests.live import LiveSystem

ROOT = Path(__file__).parents[1]
QUICK = str(ROOT / "configs" / "quickstart.yaml")
DASHBOARD = "http://127.0.0.1:18601"
BROKEN = ["data.name=mnist", "data.root=/nonexistent/liplab-test", "training.epochs=1"]  # fails at load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    system = LiveSystem(tmp_path_factory.mktemp("client-home"))
    system.env["LIPLAB_DASHBOARD_URL"] = DASHBOARD
    with system:
        yield system


@pytest.fixture(scope="module")
def client(lab):
    with Client(lab.url) as c:
        yield c


@pytest.fixture(scope="module")
def lr_sweep(client):
    """A finished two-run sweep whose runs also log a metric set by an inline-list override."""
    answer = client.submit(QUICK, ["training.lr=0.01,0.02", "training.epochs=3",
                                   "training.metrics=[weight_norm]"], name="client-lr")
    seen: list[list[dict]] = []
    runs = client.wait(answer, poll_s=0.2, timeout=120, progress=seen.append)
    return answer, runs, seen


@pytest.fixture
def cli(lab, monkeypatch):
    monkeypatch.setenv("LIPLAB_URL", lab.url)
    return main


def test_submit_and_wait_for_a_sweep(client, lr_sweep):
    answer, runs, seen = lr_sweep
    assert answer["kind"] == "sweep" and answer["n_runs"] == 2
    assert sorted(r["id"] for r in runs) == sorted(answer["run_ids"])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert seen and all(r["status"] == "succeeded" for r in seen[-1])
    assert client.sweep(answer["id"])["counts"] == {"succeeded": 2}


def test_runs_filter_order_and_read(client, lr_sweep):
    answer, _, _ = lr_sweep
    high = client.runs(where="training.lr>0.015", sweep_id=answer["id"])
    assert [r["config"]["training"]["lr"] for r in high] == [0.02]
    ordered = client.runs(sweep_id=answer["id"], order_by="-train_loss")
    losses = [r["summary"]["train_loss"]["last"] for r in ordered]
    assert losses == sorted(losses, reverse=True)
    run = client.run(high[0]["id"])
    assert run["overrides"] == {"training.lr": 0.02}
    series = client.metrics(run["id"], ["train_loss"])
    assert list(series) == ["train_loss"] and len(series["train_loss"]["step"]) == 3
    assert "weight_norm" in client.metrics(run["id"])  # the list override reached the worker


def test_load_sweep_and_load_run_frames(client, lr_sweep):
    answer, _, _ = lr_sweep
    runs, history = client.load_sweep(answer["id"])
    assert len(runs) == 2 and set(runs["training.lr"]) == {0.01, 0.02}
    assert set(runs["model.width"]) == {32} and set(runs["status"]) == {"succeeded"}
    assert list(history.columns) == ["run_id", "key", "step", "value"]
    for _, row in runs.iterrows():  # the summary column is the history's last train_loss point
        mine = history[(history.run_id == row["id"]) & (history.key == "train_loss")].sort_values("step")
        assert len(mine) == 3 and row["train_loss"] == pytest.approx(mine.value.iloc[-1])
        assert row["train_loss.min"] == pytest.approx(mine.value.min())
    one, its_history = client.load_run(int(runs["id"].iloc[0]), keys=["train_loss"])
    assert len(one) == 1 and set(its_history.key) == {"train_loss"} and len(its_history) == 3


def test_a_single_run_cancel_and_retry(client, lab):
    long = client.submit(QUICK, ["training.epochs=100000"])
    assert long["kind"] == "run"
    deadline = time.monotonic() + 60
    while client.run(long["id"])["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    client.cancel(long["id"])
    [run] = client.wait(f"run:{long['id']}", poll_s=0.2, timeout=90)
    assert run["status"] == "cancelled"

    broken = client.submit(QUICK, [*BROKEN, "training.lr=0.01,0.02"], name="broken")
    assert {r["status"] for r in client.wait(broken, poll_s=0.2, timeout=120)} == {"failed"}
    again = client.retry_failed(broken["id"])
    assert sorted(again["ids"]) == sorted(broken["run_ids"])
    assert {r["status"] for r in client.wait(f"sweep:{broken['id']}", poll_s=0.2, timeout=120)} == {"failed"}
    assert client.run(broken["run_ids"][0])["attempts"] >= 1


def test_errors_name_the_field_or_say_how_to_start(client):
    with pytest.raises(ClientError) as e:
        client.submit(QUICK, ["training.lrr=1,2"])
    assert e.value.status == 422 and "training.lrr: unknown config key" in str(e.value)
    with pytest.raises(ClientError, match="run 999999: not found"):
        client.run(999999)
    with pytest.raises(ClientError, match="where"):
        client.runs(where="training.lr<<1")
    with pytest.raises(Unreachable, match="liplab up"):
        Client("http://127.0.0.1:9").health()
    with pytest.raises(ValueError, match="sweep:3"):
        client.cancel("sweep3")


def test_a_missing_token_says_which_variable_to_set():
    import httpx

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer right":
            return httpx.Response(401, json={"detail": "missing or wrong bearer token"})
        return httpx.Response(200, json={"id": 1, "status": "succeeded"})

    transport = httpx.MockTransport(api)
    with pytest.raises(ClientError, match="(?s)refused \\(401\\).*LIPLAB_TOKEN"):
        Client("http://api", http=httpx.Client(base_url="http://api", transport=transport)).run(1)
    good = httpx.Client(base_url="http://api", transport=transport, headers={"Authorization": "Bearer right"})
    assert Client("http://api", http=good).run(1)["status"] == "succeeded"


def test_cli_status_logs_and_open(cli, lr_sweep, capsys):
    answer, runs, _ = lr_sweep
    assert cli(["status"]) == 0
    out = capsys.readouterr().out
    assert f"sweep:{answer['id']}" in out and "client-lr" in out and "train_loss" in out
    assert cli(["status", f"sweep:{answer['id']}"]) == 0
    out = capsys.readouterr().out
    assert "2 runs (2 succeeded)" in out and "training.lr" in out and "0.02" in out
    assert cli(["status", str(runs[0]["id"])]) == 0
    assert "train_loss" in capsys.readouterr().out
    assert cli(["logs", f"run:{runs[0]['id']}"]) == 0
    assert "progress: step 12 of a run of 3 epochs" in capsys.readouterr().out
    assert cli(["open", f"sweep:{answer['id']}"]) == 0
    assert capsys.readouterr().out.strip() == f"{DASHBOARD}/sweeps/{answer['id']}"


def test_cli_submit_prints_the_dashboard_the_system_serves(cli, client, capsys):
    assert cli(["submit", QUICK, "training.epochs=1", "training.metrics=[weight_norm]",
                "+probes=hessian"]) == 0
    out = capsys.readouterr().out
    run_id = int(out.split(":")[0].removeprefix("run "))
    assert f"{DASHBOARD}/runs/{run_id}" in out
    config = client.run(run_id)["config"]
    assert config["training"]["metrics"] == ["weight_norm"] and config["probes"][-1]["name"] == "hessian"
    client.wait(run_id, poll_s=0.2, timeout=120)


def test_cli_logs_shows_the_error_and_fails(cli, client, capsys):
    run = client.submit(QUICK, BROKEN)
    client.wait(run, poll_s=0.2, timeout=120)
    assert cli(["logs", str(run["id"])]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "error:" in out and "/nonexistent/liplab-test" in out


def test_cli_cancel_and_retry(cli, client, capsys):
    sweep = client.submit(QUICK, ["training.epochs=100000", "training.lr=0.01,0.02"], name="to-cancel")
    assert cli(["cancel", f"sweep:{sweep['id']}"]) == 0
    assert "unfinished runs asked to stop" in capsys.readouterr().out
    assert {r["status"] for r in client.wait(sweep, poll_s=0.2, timeout=90)} == {"cancelled"}
    run_id = sweep["run_ids"][0]
    assert cli(["retry", f"sweep:{sweep['id']}"]) == 0
    assert "2 failed, diverged or cancelled runs queued again" in capsys.readouterr().out
    assert cli(["cancel", f"run:{run_id}"]) == 0 and cli(["cancel", f"sweep:{sweep['id']}"]) == 0
    client.wait(sweep, poll_s=0.2, timeout=90)
    capsys.readouterr()


@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv), ("json", pd.read_json),
                                       ("parquet", pd.read_parquet)])
def test_cli_export(cli, client, lr_sweep, tmp_path, capsys, fmt, read):
    answer, _, _ = lr_sweep
    assert cli(["export", f"sweep:{answer['id']}", "--format", fmt, "--out", str(tmp_path)]) == 0
    runs = read(tmp_path / f"sweep_{answer['id']}.{fmt}")
    history = read(tmp_path / f"sweep_{answer['id']}_history.{fmt}")
    expected, expected_history = client.load_sweep(answer["id"])
    assert sorted(runs["training.lr"]) == [0.01, 0.02]
    assert sorted(runs["train_loss"]) == pytest.approx(sorted(expected["train_loss"]))
    assert len(history) == len(expected_history) and set(history.columns) == {"run_id", "key", "step", "value"}
    assert "2 runs" in capsys.readouterr().out


def test_cli_failures_exit_non_zero(cli, capsys, monkeypatch, tmp_path, lr_sweep):
    assert cli(["status", "run:999999"]) == 2
    assert "run 999999: not found" in capsys.readouterr().err
    assert cli(["status", "swep:1"]) == 2
    assert "sweep:3 for a sweep" in capsys.readouterr().err
    assert cli(["logs", "sweep:1"]) == 2
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    assert cli(["export", f"sweep:{lr_sweep[0]['id']}", "--format", "parquet", "--out", str(tmp_path)]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err
    monkeypatch.setenv("LIPLAB_URL", "http://127.0.0.1:9")
    assert cli(["status"]) == 3
    assert "liplab up" in capsys.readouterr().err
    assert cli(["submit", QUICK, "training.lr=0.1"]) == 3
    assert "liplab up" in capsys.readouterr().err
