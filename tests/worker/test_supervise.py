"""`liplab worker --gpus 0,1`: one worker process per GPU, the parent free of torch, dead ones restarted."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from worker.supervise import parse_gpus, worker_plan


def test_plan_has_one_worker_per_gpu_each_seeing_only_its_own():
    plan = worker_plan(parse_gpus("0,1"))
    assert [env for _, _, env in plan] == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]
    for _, cmd, _ in plan:
        assert cmd[cmd.index("--pool") + 1] == "solo" and cmd[cmd.index("-c") + 1] == "1"
    cpu = worker_plan(parse_gpus(None), cpu_workers=2)
    assert [env for _, _, env in cpu] == [{"CUDA_VISIBLE_DEVICES": ""}] * 2


def test_bad_gpu_list_names_the_option():
    with pytest.raises(ValueError, match="--gpus: x is not a GPU index"):
        parse_gpus("0,x")


def test_gpus_all_without_a_gpu_is_an_error_not_cpu_workers(monkeypatch):
    monkeypatch.setattr("worker.supervise.visible_gpus", lambda: [])
    with pytest.raises(ValueError, match="--gpus all: nvidia-smi lists no GPU"):
        parse_gpus("all")
    monkeypatch.setattr("worker.supervise.visible_gpus", lambda: ["0", "1"])
    assert parse_gpus("all") == ["0", "1"]


def maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def celery_children(proc: subprocess.Popen) -> list[psutil.Process]:
    """Live celery children (a just-killed one may linger as a zombie until reaped)."""
    kids = []
    for c in psutil.Process(proc.pid).children():
        try:
            if c.status() != psutil.STATUS_ZOMBIE and "celery" in " ".join(c.cmdline()):
                kids.append(c)
        except psutil.Error:
            pass
    return kids


def gpu_of(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get("CUDA_VISIBLE_DEVICES")
    except psutil.Error:
        return None


@pytest.mark.slow
def test_worker_command_starts_restarts_and_stops_one_process_per_gpu(tmp_path):
    env = {**os.environ, "LIPLAB_HOME": str(tmp_path)}
    for key in ("LIPLAB_DATABASE_URL", "LIPLAB_BROKER_URL"):
        env.pop(key, None)
    subprocess.run([sys.executable, "-m", "liplab.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "liplab.cli", "worker", "--gpus", "0,1",
                             "--loglevel", "WARNING"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        kids = []
        while time.monotonic() < deadline:  # ready = lipcore (torch) preloaded in each child
            kids = celery_children(proc)
            if len(kids) == 2 and all("libtorch" in maps(k.pid) for k in kids):
                break
            time.sleep(0.5)
        assert sorted(map(gpu_of, kids)) == ["0", "1"]
        assert "libtorch" not in maps(proc.pid)  # the parent never loads torch (nor CUDA)
        victim = next(k for k in kids if gpu_of(k) == "1")
        victim.kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = celery_children(proc)
            if len(kids) == 2 and victim.pid not in [k.pid for k in kids] and \
                    sorted(map(gpu_of, kids)) == ["0", "1"]:
                break
            time.sleep(0.3)
        assert sorted(map(gpu_of, kids)) == ["0", "1"]
        assert victim.pid not in [k.pid for k in kids]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "restarting it" in out
    assert not [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
