"""The embedded mode (SQLite + filesystem broker, no Redis) keeps the SIGKILL guarantee: the
reaper, not the broker, brings the run back, so it completes once with every step."""
from __future__ import annotations

import os
import signal

import pytest

from tests.live import LiveSystem
from tests.worker.lab import FAST
from tests.worker.test_faults import (STEPS_PER_EPOCH, config, owner_pid, start_mid_run)


@pytest.mark.slow
def test_sigkill_on_the_embedded_store_and_broker(tmp_path):
    system = LiveSystem(tmp_path, workers=2)
    system.env.update(FAST)
    with system:
        cfg = config(epochs=80)
        run_id = start_mid_run(system, cfg, min_epochs=3)
        victim = owner_pid(system, run_id)
        os.kill(victim, signal.SIGKILL)
        run = system.wait_run(run_id, timeout=120)
        assert run["status"] == "succeeded", run["error"]
        assert run["attempts"] >= 2 and not run["worker"].endswith(f":{victim}")
        steps = system.client.get(f"/runs/{run_id}/metrics",
                                  params={"keys": "train_loss"}).json()["train_loss"]["step"]
        assert steps == [STEPS_PER_EPOCH * (e + 1) for e in range(80)]
