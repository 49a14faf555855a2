"""The embedded mode (SQLite + the filesystem broker) meets its own outage as a pause: mid-sweep,
the SQLite file is locked by another process's exclusive transaction and the broker's message
folder is moved away, for 5 s; the sweep ends with every run once and every point, no 5xx, and
no more than 30 s after the same sweep undisturbed."""
from __future__ import annotations

import pytest

from tests.live import LiveSystem
from tests.reliability.scenario import embedded_outage, run_sweep
from tests.reliability.test_outages import EXTRA_S, LONG, check
from tests.worker.test_faults import points_of


@pytest.mark.slow
def test_locked_sqlite_and_missing_broker_folder_are_a_pause(tmp_path):
    n = 4
    with LiveSystem(tmp_path, workers=1) as system:
        url = f"sqlite:///{tmp_path / 'liplab.db'}"
        control = run_sweep(system, url, LONG, n, timeout_s=180)
        faulted = run_sweep(system, url, LONG, n, timeout_s=control.wall_s + 2 * EXTRA_S,
                            fault=lambda: embedded_outage(tmp_path), fault_after_done=1)
    print(f"\nembedded 4-run sweep: control {control.wall_s:.1f} s, faulted {faulted.wall_s:.1f} s")
    check(control, faulted, n, len(points_of(LONG)))
