"""A sweep of tiny runs through two workers while a random worker is SIGKILLed each time
another tenth of its runs has finished (and started again, as `liplab up`'s supervisor does):
every run ends `succeeded`, every metric point is stored exactly once. 1,000 runs in the suite (a few minutes here); the full soak
with `LIPLAB_SOAK_RUNS=2000` or more (the test's time limit grows with it)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, func, select

from server.models import MetricPoint
from tests.reliability.killers import SweepKiller
from tests.reliability.tally import record
from tests.services import pg_database
from tests.worker.lab import lab
from tests.worker.test_faults import config, points_of, sweep, wait_all

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
RUNS = int(os.environ.get("LIPLAB_SOAK_RUNS", "1000"))


@pytest.mark.timeout(240 + RUNS // 4)
def test_a_sweep_through_workers_killed_at_random_succeeds_once_per_run(tmp_path_factory):
    tiny = config(epochs=1, n_train=32, name="soak")
    per_run = len(points_of(tiny))
    with pg_database() as url, lab(tmp_path_factory.mktemp("soak-lab"), url) as (system, _r):
        system.db = create_engine(url)
        run_ids = sweep(system, tiny, RUNS)
        with SweepKiller(system, run_ids) as killer:
            rows = wait_all(system, run_ids, timeout=180 + RUNS // 4)
        with system.db.connect() as c:
            stored = c.scalar(select(func.count()).select_from(MetricPoint)
                              .where(MetricPoint.run_id.in_(run_ids)))
            distinct = c.scalar(select(func.count()).select_from(
                select(MetricPoint.run_id, MetricPoint.key, MetricPoint.step)
                .where(MetricPoint.run_id.in_(run_ids)).distinct().subquery()))
        system.db.dispose()
    statuses = [r.status for r in rows]
    record("Load", f"a {RUNS}-run sweep through two workers, a random worker SIGKILLed at "
           "each tenth of the sweep", tried=killer.kills, runs=sum(r.attempts > 1 for r in rows),
           lost=RUNS * per_run - distinct, duplicates=stored - distinct,
           sees="every run succeeded; a killed worker's run was reaped and run again")
    assert statuses == ["succeeded"] * RUNS, sorted(set(statuses))
    assert stored == distinct == RUNS * per_run
    assert killer.kills >= 3
