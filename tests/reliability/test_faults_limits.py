"""A worker that runs out of disk or of memory: the run fails with that reason, the store keeps
exactly what was written before, and the same worker process goes on with the next run.

The worker starts with resource limits instead of a real full disk: RLIMIT_FSIZE (a file may
grow to 2 MiB: a write past it fails with EFBIG, as a full disk fails with ENOSPC) and RLIMIT_AS
(8 GiB of address space: a 14 GB weight matrix cannot be allocated). A tiny run's checkpoint is
a few KiB; a width-1024 MLP's is ~4 MiB.
"""
from __future__ import annotations

import resource

import pytest

from tests.reliability.tally import record
from tests.services import pg_database
from tests.worker.lab import lab
from tests.worker.test_faults import config, owner_pid, reference, stored_steps, submit

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
LIMITS = {resource.RLIMIT_FSIZE: 2 * 1024 * 1024, resource.RLIMIT_AS: 8 * 1024**3}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with pg_database() as url, lab(tmp_path_factory.mktemp("limits-lab"), url, workers=1,
                                   limits=LIMITS) as (sys_, _redis):
        yield sys_


def wide(width: int, name: str) -> dict:
    cfg = config(epochs=2, n_train=64, name=name)
    cfg["model"]["width"] = width
    return cfg


def tiny_run_succeeds_on(system, pid: int) -> bool:
    cfg = config(epochs=2, n_train=64, name="after")
    run_id = submit(system, cfg)
    run = system.wait_run(run_id, timeout=120)
    steps = stored_steps(system, run_id)
    return (run["status"] == "succeeded" and owner_pid(system, run_id) == pid
            and steps == sorted(s for s in reference(cfg)))


def test_a_full_artifact_disk_fails_the_run_with_that_reason_and_the_worker_goes_on(system):
    cfg = wide(1024, "disk-full")
    run_id = submit(system, cfg)
    run = system.wait_run(run_id, timeout=120)
    pid = owner_pid(system, run_id)
    steps = stored_steps(system, run_id)
    expected = sorted(reference(cfg))
    lost = len([s for s in expected if s <= max(steps, default=-1)]) - len(set(steps))
    goes_on = tiny_run_succeeds_on(system, pid)
    record("Faults", "artifact disk full (a checkpoint write fails)", tried=1, runs=1, lost=lost,
           duplicates=len(steps) - len(set(steps)),
           sees="the run ends failed: 'artifact disk full: [Errno 27] File too large: …'; the "
                "points before it are kept; the worker takes the next run")
    assert run["status"] == "failed" and run["error"].startswith("artifact disk full: "), run["error"]
    assert "File too large" in run["error"].splitlines()[0]
    assert steps == expected[:len(steps)]  # a prefix of the run, each step once
    assert not list((system.home / "artifacts").rglob("*.tmp"))  # no half-written checkpoint left
    assert goes_on


def test_a_model_too_large_for_memory_fails_with_that_reason_and_the_worker_goes_on(system):
    run_id = submit(system, wide(60_000, "too-large"))
    run = system.wait_run(run_id, timeout=120)
    pid = owner_pid(system, run_id)
    goes_on = tiny_run_succeeds_on(system, pid)
    record("Faults", "a model too large for the worker's memory (allocation fails)", tried=1, runs=1,
           sees="the run ends failed at once: 'out of memory: …'; the worker takes the next run")
    assert run["status"] == "failed" and run["error"].startswith("out of memory: "), run["error"]
    assert run["attempts"] == 1 and goes_on
