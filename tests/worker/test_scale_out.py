"""Scale-out: workers as on separate machines (each its own working folder, LIPLAB_HOME) that share
only PostgreSQL, Redis and the artifact folder (an NFS mount in a lab). A SIGKILLed worker's run
moves to the other worker and resumes there from the checkpoint in the shared folder, ending with
every metric point once and the values of an uninterrupted run."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from liplab.processes import worker_command
from tests.live import LiveSystem
from tests.services import pg_database
from tests.worker.lab import FAST, RedisServer
from tests.worker.test_faults import assert_complete_and_equal, config, owner_pid, submit, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


class SeparateMachines(LiveSystem):
    """The API plus workers that each get their own LIPLAB_HOME; LIPLAB_ARTIFACT_DIR is shared."""

    def start_worker(self, name: str = "w0") -> subprocess.Popen:
        home = self.home / f"{name}-home"
        home.mkdir(exist_ok=True)
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(worker_command("gpu,cpu", f"{name}@%h", "INFO"),
                                env={**self.env, "LIPLAB_HOME": str(home)},
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale-out")
    shared = root / "shared-artifacts"
    redis_server = RedisServer(root)
    redis_server.start()
    try:
        with pg_database() as url:
            system = SeparateMachines(root, database_url=url, broker_url=redis_server.url, workers=2)
            system.env.update(FAST | {"LIPLAB_ARTIFACT_DIR": str(shared)})
            with system:
                system.wait_healthy()
                yield system, shared
    finally:
        redis_server.kill()


def test_a_killed_run_resumes_from_its_checkpoint_on_the_other_machine(machines):
    system, shared = machines
    cfg = config(epochs=300)
    run_id = submit(system, cfg)
    checkpoints = shared / "runs" / str(run_id) / "checkpoints"
    wait_for(lambda: [c for c in checkpoints.glob("step_*.pt") if int(c.stem[5:]) > 0], 120,
             "no checkpoint after step 0 in the shared folder", system)
    victim = owner_pid(system, run_id)
    [killed] = [n for n, p in system.procs.items() if p.pid == victim]
    [survivor] = [n for n in ("w0", "w1") if n != killed]
    os.kill(victim, signal.SIGKILL)

    run = system.wait_run(run_id, timeout=240)
    assert run["status"] == "succeeded", run["error"]
    assert run["worker"].startswith(f"{survivor}@"), system.logs()
    resumed = re.findall(rf"run {run_id} resumes from its checkpoint at step (\d+)",
                         (system.home / f"{survivor}.log").read_text())
    assert resumed and int(resumed[-1]) > 0, system.logs()
    assert_complete_and_equal(system, run_id, cfg)
    for name in ("w0", "w1"):  # nothing of the run lived in a worker's own folder
        assert not list(Path(system.home / f"{name}-home").rglob("*.pt"))
