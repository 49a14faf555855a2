"""Scale-out: workers as on separate machines (each its own working folder, LIPLAB_HOME) that share
only PostgreSQL, Redis and the artifacts: one shared folder (an NFS mount in a lab), or an S3 API
(moto's server mode, as MinIO would be) that each machine mirrors its run folders to. A SIGKILLed
worker's run moves to the other worker and resumes there from the stored checkpoint, ending with
every metric point once and the values of an uninterrupted run."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from liplab.processes import worker_command
from tests.live import LiveSystem, free_port
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


@contextlib.contextmanager
def shared_folder(root: Path):
    """(environment of every machine, stored checkpoint names of a run)."""
    shared = root / "shared-artifacts"
    yield ({"LIPLAB_ARTIFACT_DIR": str(shared)},
           lambda run_id: [c.name for c in (shared / "runs" / str(run_id) / "checkpoints").glob("*.pt")])


@contextlib.contextmanager
def s3_store(root: Path):
    from moto.server import ThreadedMotoServer
    import s3fs

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    creds = {"AWS_ACCESS_KEY_ID": "lab", "AWS_SECRET_ACCESS_KEY": "lab-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    endpoint = f"http://127.0.0.1:{port}"
    fs = s3fs.S3FileSystem(key=creds["AWS_ACCESS_KEY_ID"], secret=creds["AWS_SECRET_ACCESS_KEY"],
                           endpoint_url=endpoint)
    fs.mkdir("lab-bucket")
    try:
        yield (creds | {"LIPLAB_ARTIFACT_STORE": "s3://lab-bucket/liplab", "LIPLAB_ARTIFACT_SYNC_S": "0.5",
                        "FSSPEC_S3_ENDPOINT_URL": endpoint},
               lambda run_id: [p.rsplit("/", 1)[1] for p in fs.glob(
                   f"lab-bucket/liplab/runs/{run_id}/checkpoints/*.pt", refresh=True)])
    finally:
        server.stop()


STORAGE = {"shared-folder": shared_folder, "s3": s3_store}


@pytest.fixture(scope="module", params=sorted(STORAGE))
def machines(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"scale-out-{request.param}")
    redis_server = RedisServer(root)
    redis_server.start()
    try:
        with pg_database() as url, STORAGE[request.param](root) as (env, stored):
            system = SeparateMachines(root, database_url=url, broker_url=redis_server.url, workers=2)
            system.env.update(FAST | env)
            with system:
                system.wait_healthy()
                yield system, stored
    finally:
        redis_server.kill()


def test_a_killed_run_resumes_from_its_checkpoint_on_the_other_machine(machines):
    system, stored = machines
    cfg = config(epochs=300)
    run_id = submit(system, cfg)
    wait_for(lambda: [c for c in stored(run_id) if int(c[5:-3]) > 0], 120,
             "no checkpoint after step 0 stored", system)
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
    if "LIPLAB_ARTIFACT_STORE" not in system.env:  # nothing of the run lived in a worker's own folder
        for name in ("w0", "w1"):
            assert not list(Path(system.home / f"{name}-home").rglob("*.pt"))
