"""A pack's checkpoint files written by a forked child while the pack trains on.

A pack writes one checkpoint per member per checkpoint round (≈ 900 files for a 100-member
sine pack), and torch.save spends ≈ 1 ms of Python per small model pickling it tensor by
tensor: on a CPU pack that is a tenth of the training time, on the one core that trains.
`ForkedWrites.submit(jobs)` forks; the child sees the payloads exactly as they are at the
fork (copy-on-write pages), writes every file with `checkpoints.save` (atomic: temporary
name, then rename) and exits; the parent goes straight back to training. This is how Redis
writes its snapshots. The points of the round were stored before the fork, so a checkpoint
still never runs ahead of them; a worker killed while a child writes leaves whole files or
none, and a resume picks the newest checkpoint every member has, as before.

At most one child runs: `submit` and `wait` first reap the previous one and raise its error
in the parent (an `OSError` with the child's errno, so a full disk reads as a full disk; any
other failure as a `RuntimeError` with the child's traceback). Writes stay in the calling
process (`checkpoints.save` directly) where forking is unsafe or impossible: not Linux,
CUDA initialised (a CUDA context does not survive a fork), or `LIPLAB_FORKED_CHECKPOINTS=0`.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

import torch

from lipcore.training import checkpoints

Job = tuple[str | Path, int, dict[str, Any]]  # (folder, step, payload) as `checkpoints.save` takes


def forking_allowed() -> bool:
    """Whether a child may write: Linux (macOS forbids much of its system libraries after a
    fork), no CUDA context, not switched off."""
    if os.environ.get("LIPLAB_FORKED_CHECKPOINTS", "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    return sys.platform.startswith("linux") and not torch.cuda.is_initialized()


def _failure(exc: BaseException) -> dict[str, Any]:
    """What the parent needs to raise the child's error again: the first OSError along the
    chain (errno, strerror, filename) and the whole traceback as text."""
    found, seen = None, set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and found is None:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            found = (e.errno, e.strerror, None if e.filename is None else str(e.filename))
        e = e.__cause__ or e.__context__
    return {"os_error": found, "text": "".join(traceback.format_exception(exc))[-4000:]}


def _child(jobs: Sequence[Job], out: int) -> None:
    """The forked child: write every job, report, and leave without running the parent's exit
    handlers (its database connections and threads are the parent's)."""
    code = 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a worker's shutdown is the parent's to handle;
            signal.signal(sig, signal.SIG_IGN)  # the child finishes its few files
        torch.set_num_threads(1)  # no OpenMP pool: the parent's does not survive the fork
        for folder, step, payload in jobs:
            checkpoints.save(folder, step, payload)
        report = b""
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        code, report = 1, pickle.dumps(_failure(exc))
    try:
        os.write(out, report)
    finally:
        os._exit(code)


class ForkedWrites:
    """Checkpoint files written in the background, one forked child at a time (see the module
    docstring)."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.fd: int | None = None

    def submit(self, jobs: Sequence[Job]) -> None:
        """Write `jobs`: in a child when `forking_allowed()`, else here and now."""
        self.wait()
        if not jobs:
            return
        if not forking_allowed():
            for folder, step, payload in jobs:
                checkpoints.save(folder, step, payload)
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(jobs, write)
        os.close(write)
        self.pid, self.fd = pid, read

    def wait(self) -> None:
        """Until the running child (if any) has written its files; raises its error here."""
        if self.pid is None:
            return
        pid, fd, self.pid, self.fd = self.pid, self.fd, None, None
        with os.fdopen(fd, "rb") as pipe:
            report = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status == 0:
            return
        if not report:
            raise RuntimeError(f"checkpoint writer (pid {pid}) died without a report "
                               f"(wait status {status}); its files are whole or absent")
        failure = pickle.loads(report)
        cause = RuntimeError(f"checkpoint writer (pid {pid}) failed:\n{failure['text']}")
        if failure["os_error"] is not None:
            errno, strerror, filename = failure["os_error"]
            raise OSError(errno, f"{strerror} (writing a checkpoint)", filename) from cause
        raise cause
