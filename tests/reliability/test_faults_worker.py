"""Worker faults beyond a kill: a frozen worker, a message delivered twice, a worker killed for
its memory every time it takes a run. Real PostgreSQL, a private Redis, real worker processes
(tests/worker/lab.py: heartbeat 0.25 s, stale after 3 s, max_retries 3).

Each run is checked against the same config run uninterrupted in this process: every step
stored once, with the same values (points lost and duplicated are counted for the table).
"""
from __future__ import annotations

import os
import signal

import pytest

from server.queue import Queue
from server.settings import Settings
from tests.reliability.killers import OomKiller
from tests.reliability.tally import record
from tests.services import pg_database
from tests.worker.lab import lab
from tests.worker.test_faults import config, owner_pid, reference, start_mid_run, submit, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with pg_database() as url, lab(tmp_path_factory.mktemp("fault-lab"), url) as (sys_, redis_):
        sys_.redis = redis_
        yield sys_


def losses(system, run_id: int) -> tuple[list[int], list[float]]:
    series = system.client.get(f"/runs/{run_id}/metrics", params={"keys": "train_loss"}).json()
    return series["train_loss"]["step"], series["train_loss"]["value"]


def lost_and_duplicated(system, run_id: int, cfg: dict) -> tuple[int, int, bool]:
    """(points missing, points stored twice, stored values equal the uninterrupted run's)."""
    steps, values = losses(system, run_id)
    expected = reference(cfg)
    equal = all(abs(v - expected.get(s, float("nan"))) <= 1e-6 * max(1.0, abs(v))
                for s, v in zip(steps, values))
    return len(set(expected) - set(steps)), len(steps) - len(set(steps)), equal


def task_results(system, result: str) -> int:
    """How many times a worker's task body ended with `result` (Celery's log line)."""
    return sum(p.read_text(errors="replace").count(f": '{result}'") for p in system.home.glob("w*.log"))


def test_a_frozen_worker_is_reaped_and_its_run_completes_elsewhere_once(system):
    cfg = config(epochs=300)
    walked_away = task_results(system, "lost")
    run_id = start_mid_run(system, cfg)
    victim = owner_pid(system, run_id)
    os.kill(victim, signal.SIGSTOP)  # heartbeats stop; the process still holds its connections
    try:
        def taken_over():
            worker = system.client.get(f"/runs/{run_id}").json()["worker"]
            return worker is not None and not worker.endswith(f":{victim}")
        wait_for(taken_over, 60, "the frozen worker's run was not taken over", system)
    finally:
        os.kill(victim, signal.SIGCONT)  # it wakes up, finds the run no longer its own, stops
    run = system.wait_run(run_id, timeout=150)
    lost, dup, equal = lost_and_duplicated(system, run_id, cfg)
    record("Faults", "worker frozen (SIGSTOP) mid-run: heartbeat stops", tried=1, runs=1, lost=lost,
           duplicates=dup, sees="the run is requeued after run_stale_s and finishes on another "
           "worker; the woken worker walks away")
    assert run["status"] == "succeeded", run["error"]
    assert (lost, dup, equal) == (0, 0, True)
    wait_for(lambda: task_results(system, "lost") > walked_away, 60,
             "the woken worker did not give the run up", system)
    assert all(p.poll() is None for p in system.procs.values())  # and it keeps serving


def test_the_same_message_delivered_to_two_workers_runs_once(system):
    cfg = config(epochs=20)
    skipped = task_results(system, "skipped")
    queue = Queue(Settings(broker_url=system.redis.url, home=system.home))
    run_ids = []
    for i in range(5):
        run_id = submit(system, {**cfg, "name": f"twice-{i}"})
        queue.enqueue_run(run_id, "cpu")  # a second message for the same run
        run_ids.append(run_id)
    runs = [system.wait_run(r, timeout=150) for r in run_ids]
    wait_for(lambda: task_results(system, "skipped") - skipped >= 5, 30, "duplicates not consumed", system)
    counts = [lost_and_duplicated(system, r, cfg) for r in run_ids]
    record("Faults", "the same run message delivered twice", tried=5, runs=5,
           lost=sum(c[0] for c in counts), duplicates=sum(c[1] for c in counts),
           sees="one worker runs it; the other's claim fails and it skips the message")
    assert [r["status"] for r in runs] == ["succeeded"] * 5 and {r["attempts"] for r in runs} == {1}
    assert task_results(system, "skipped") - skipped == 5
    assert all(c == (0, 0, True) for c in counts)


def test_a_model_that_gets_its_worker_oom_killed_fails_after_max_retries_and_the_sweep_goes_on(system):
    base = config(epochs=3, n_train=64, name="oom")
    # the small runs first: while the huge one is allocated again and again the machine can stall
    # for longer than the lab's 3 s heartbeat window, which would reap a small run beside it
    body = {"config": base, "params": {"model.width": "8,16,12288"}}
    # 2 GB: far above a worker training a small model (its resident size counts the mapped
    # libtorch pages too, near 1 GB on a busy machine) and far below the wide model's weights,
    # gradients and Adam state (> 2.4 GB for one 12288 × 12288 layer)
    with OomKiller(system, limit_mb=2048) as killer:
        r = system.client.post("/sweeps", json=body)
        assert r.status_code == 201, r.text
        run_ids = r.json()["run_ids"]
        runs = [system.wait_run(i, timeout=240) for i in run_ids]
    by_width = {run["config"]["model"]["width"]: run for run in runs}
    huge = by_width[12288]
    small = [by_width[8], by_width[16]]
    record("Faults", "worker OOM-killed by a too-large model (every attempt)", tried=killer.kills,
           runs=1, sees="that run ends failed after max_retries with the reason (heartbeats stopped "
           "N times); the sweep's other runs succeed")
    assert [s["status"] for s in small] == ["succeeded", "succeeded"], [s["error"] for s in small]
    assert huge["status"] == "failed" and "gave up after max_retries=3" in huge["error"], huge["error"]
    assert killer.kills == 4 and huge["attempts"] == 4  # the first try and max_retries retries
