"""Outages cost seconds, not runs: a 5 s PostgreSQL crash and an empty Redis restart, mid-sweep,
at default settings, against the same sweep undisturbed.

Real processes throughout: a private PostgreSQL cluster and redis-server that the test stops and
starts (`tests.reliability.stores`), the API and one Celery worker. The bound (30 s over the
control) is far below what a lost message used to cost: the reaper's orphan wait, 3 × the
60 s stale threshold.
"""
from __future__ import annotations

import pytest

from tests.reliability.scenario import outage_lab, run_sweep
from tests.worker.test_faults import config, points_of

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

EXTRA_S = 30.0  # what an outage may cost a sweep, at most
LONG = config(epochs=200, name="outage")
TINY = config(epochs=1, n_train=32, name="outage-tiny")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with outage_lab(tmp_path_factory.mktemp("outage-lab")) as lab_:
        yield lab_


def check(control, faulted, n: int, per_run: int) -> None:
    report = f"control {control}\nfaulted {faulted}"
    assert control.statuses == faulted.statuses == {"succeeded": n}, report
    assert set(faulted.attempts.values()) == {1}, report  # no run was consumed and sent again
    assert control.points == faulted.points == n * per_run, report  # none lost, none twice
    assert control.server_errors == faulted.server_errors == 0, report
    assert faulted.connection_errors == [] and faulted.answers > 0, report
    assert faulted.wall_s - control.wall_s <= EXTRA_S, report


def control_then_faulted(lab, cfg: dict, n: int, fault_after_done: int) -> None:
    """The same sweep undisturbed, then with the outage once `fault_after_done` runs finished."""
    control = run_sweep(lab.system, lab.pg.url, cfg, n, timeout_s=180)
    faulted = run_sweep(lab.system, lab.pg.url, cfg, n, timeout_s=control.wall_s + 2 * EXTRA_S,
                        fault=lab.outage, fault_after_done=fault_after_done)
    print(f"\n{n}-run sweep: control {control.wall_s:.1f} s, faulted {faulted.wall_s:.1f} s")
    check(control, faulted, n, len(points_of(cfg)))


def test_outage_mid_sweep_costs_seconds_and_loses_nothing(lab):
    control_then_faulted(lab, LONG, 4, fault_after_done=1)


def test_outage_does_not_drain_200_queued_runs(lab):
    control_then_faulted(lab, TINY, 200, fault_after_done=20)
