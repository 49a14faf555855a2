"""Workers that lose nothing: real PostgreSQL, a real (private) Redis, real worker processes.

Every run ends exactly once with every metric point: after a SIGKILL (the reaper requeues it),
a SIGTERM (the worker hands it back), a cancel, a broker restart that loses every queued
message, and under a 200-run sweep through two workers. The values are checked against the same
config run uninterrupted in this process (CPU, same seeds: a resumed run ends equal to an uninterrupted one).
"""
from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import create_engine, func, select

from server.models import MetricPoint, Run
from tests.services import pg_database
from tests.worker.lab import lab

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

N_TRAIN, BATCH = 512, 64
STEPS_PER_EPOCH = N_TRAIN // BATCH


def config(epochs: int, n_train: int = N_TRAIN, name: str = "fault") -> dict:
    return {"name": name, "data": {"name": "sine", "n_train": n_train, "n_test": 64},
            "model": {"name": "mlp", "depth": 2, "width": 32},
            "training": {"epochs": epochs, "batch_size": BATCH, "device": "cpu"}}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with pg_database() as url, lab(tmp_path_factory.mktemp("worker-lab"), url) as (sys_, redis_):
        sys_.redis = redis_
        sys_.db = create_engine(url)
        yield sys_
        sys_.db.dispose()


def submit(system, cfg: dict) -> int:
    r = system.client.post("/runs", json={"config": cfg})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_for(predicate, timeout: float, what: str, system):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what} after {timeout}s\n{system.logs()}")


def stored_steps(system, run_id: int, key: str = "train_loss") -> list[int]:
    series = system.client.get(f"/runs/{run_id}/metrics", params={"keys": key}).json()
    return series.get(key, {}).get("step", [])


def owner_pid(system, run_id: int) -> int:
    return int(system.client.get(f"/runs/{run_id}").json()["worker"].rsplit(":", 1)[1])


def points_of(cfg: dict):
    """The same config, uninterrupted, in this process: its ListReporter."""
    from lipcore.experiment import run_experiment
    from lipcore.reporting import ListReporter

    rep = ListReporter()
    run_experiment(cfg, rep)
    return rep.points


def reference(cfg: dict) -> dict[int, float]:
    """step → train_loss of the uninterrupted run."""
    return {step: value for step, key, value in points_of(cfg) if key == "train_loss"}


def assert_complete_and_equal(system, run_id: int, cfg: dict) -> None:
    series = system.client.get(f"/runs/{run_id}/metrics", params={"keys": "train_loss"}).json()
    steps = series["train_loss"]["step"]
    epochs = cfg["training"]["epochs"]
    assert steps == [STEPS_PER_EPOCH * (e + 1) for e in range(epochs)]  # unique and contiguous
    expected = reference(cfg)
    assert series["train_loss"]["value"] == pytest.approx([expected[s] for s in steps], rel=1e-6)


def start_mid_run(system, cfg: dict, min_epochs: int = 3) -> int:
    run_id = submit(system, cfg)
    wait_for(lambda: len(stored_steps(system, run_id)) >= min_epochs, 60, "no points", system)
    return run_id


def test_sigkill_mid_run_is_reaped_and_completes_with_every_step_once(system):
    cfg = config(epochs=300)
    run_id = start_mid_run(system, cfg)
    victim = owner_pid(system, run_id)
    os.kill(victim, signal.SIGKILL)
    system.start_worker("w-after-kill")
    run = system.wait_run(run_id, timeout=120)
    assert run["status"] == "succeeded", run["error"]
    # at least the killed attempt and the one that finished; on a starved machine a late
    # heartbeat can cost another (harmless: the stale owner notices and stops)
    assert run["attempts"] >= 2 and not run["worker"].endswith(f":{victim}"), system.logs()
    assert_complete_and_equal(system, run_id, cfg)


def test_sigterm_hands_the_run_back_and_it_completes(system):
    cfg = config(epochs=300)
    run_id = start_mid_run(system, cfg)
    victim = owner_pid(system, run_id)
    name = next(n for n, p in system.procs.items() if p.pid == victim)
    os.kill(victim, signal.SIGTERM)
    assert system.procs[name].wait(30) == 0  # stopped at the next step, not after the whole run
    def taken_over():
        worker = system.client.get(f"/runs/{run_id}").json()["worker"]
        return worker is not None and not worker.endswith(f":{victim}")
    wait_for(taken_over, 30, "run not taken over by the other worker", system)
    system.start_worker("w-after-term")
    run = system.wait_run(run_id, timeout=120)
    assert run["status"] == "succeeded", run["error"]
    assert run["attempts"] >= 1  # the handed-back attempt is given back (see test_lifecycle)
    assert_complete_and_equal(system, run_id, cfg)


def test_cancel_stops_a_running_run_at_its_next_step(system):
    cfg = config(epochs=5000)
    run_id = start_mid_run(system, cfg, min_epochs=3)
    assert system.client.post(f"/runs/{run_id}/cancel").status_code == 202
    t0 = time.monotonic()
    run = system.wait_run(run_id, timeout=30)
    assert run["status"] == "cancelled" and time.monotonic() - t0 < 10
    assert len(stored_steps(system, run_id)) < 5000


def sweep(system, cfg: dict, n: int) -> list[int]:
    r = system.client.post("/sweeps", json={"config": cfg, "params": {"training.batch_seed": f"0..{n}"}})
    assert r.status_code == 201, r.text
    return r.json()["run_ids"]


def wait_all(system, run_ids: list[int], timeout: float) -> list:
    def done():
        with system.db.connect() as c:
            rows = c.execute(select(Run).where(Run.id.in_(run_ids))).all()
        return rows if all(r.status in ("succeeded", "failed", "diverged", "cancelled")
                           for r in rows) else None
    return wait_for(done, timeout, "sweep not finished", system)


def test_redis_restart_mid_sweep_loses_no_run(system):
    cfg = config(epochs=40)
    run_ids = sweep(system, cfg, 8)
    wait_for(lambda: system.client.get(f"/runs/{run_ids[0]}").json()["status"] != "queued", 60,
             "sweep not started", system)
    system.redis.kill()  # no persistence: every queued message is gone
    time.sleep(1.0)
    system.redis.start()
    rows = wait_all(system, run_ids, timeout=150)
    assert [r.status for r in rows] == ["succeeded"] * 8, [r.error for r in rows]
    for r in rows:
        assert stored_steps(system, r.id) == [STEPS_PER_EPOCH * (e + 1) for e in range(40)]


def test_200_tiny_runs_through_two_workers_each_run_exactly_once(system):
    before = sum(p.read_text().count(": 'succeeded'") for p in system.home.glob("w*.log"))
    tiny = config(epochs=1, n_train=32, name="tiny")
    per_run = len(points_of(tiny))
    run_ids = sweep(system, tiny, 200)
    rows = wait_all(system, run_ids, timeout=150)
    assert {r.status for r in rows} == {"succeeded"} and {r.attempts for r in rows} == {1}
    with system.db.connect() as c:
        n_points = c.scalar(select(func.count()).select_from(MetricPoint)
                            .where(MetricPoint.run_id.in_(run_ids)))
    assert n_points == 200 * per_run  # every point of every run, once
    after = sum(p.read_text().count(": 'succeeded'") for p in system.home.glob("w*.log"))
    assert after - before == 200  # the task body ran to a final status 200 times, not more


def test_probe_job_on_a_finished_run_goes_through_a_worker(system):
    run_id = submit(system, config(epochs=3, n_train=64, name="probed"))
    assert system.wait_run(run_id, timeout=60)["status"] == "succeeded"
    body = {"probes": ["interpolation"], "params": {"interpolation": {"n_points": 5}}}
    assert system.client.post(f"/runs/{run_id}/probes", json=body).status_code == 202

    def done():
        got = system.client.get(f"/runs/{run_id}/probes").json()
        return got if got["jobs"][0]["status"] in ("succeeded", "failed") else None
    got = wait_for(done, 60, "probe job not finished", system)
    assert got["jobs"][0]["status"] == "succeeded", got["jobs"][0]["error"]
    assert len(got["results"]["interpolation"]["alpha"]) == 5
