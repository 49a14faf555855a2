"""`RunGuard`: a side thread that keeps one running run honest while the task thread trains.

Every `heartbeat_s` it touches the run's heartbeat (compare-and-set on the owning worker) and
reads its cancel flag. The training loop asks `should_stop()` every step, which only reads
flags set here, so a step costs no database round trip. Reasons to stop:

- `cancelled`: someone asked (API cancel, a fail_fast sweep). If the loop has not stopped
  `cancel_grace_s` after the request (a step stuck in a long call), the guard raises `HardCancel`
  in the task thread; if even that does not land within another grace period, it marks the run
  cancelled and ends the worker process (the supervisor starts a fresh one). This is the hard
  revoke of Celery's prefork pool, done without one.
- `shutdown`: the worker received SIGTERM/SIGINT (Celery's `worker_shutting_down`); the task
  hands the run back to the queue after the loop stops (and checkpoints).
- `lost`: the heartbeat found the run no longer ours (the reaper took it while this process
  was frozen); the task must not write its outcome.

The side thread is one per process (`_Watcher`), started once and shared by every guard, so a
run costs no thread start and no join: on a loaded machine each of those waits for the OS to
schedule a thread, several milliseconds a run for a tiny run. Leaving a guard waits only for a
beat of that guard already in flight, so after `__exit__` the guard never touches its run or
its task thread again.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any

from celery.signals import worker_shutting_down

from server import lifecycle

SHUTDOWN = threading.Event()


@worker_shutting_down.connect
def _on_worker_shutdown(**_kw: Any) -> None:
    SHUTDOWN.set()


class HardCancel(BaseException):
    """Raised inside the task thread when a cancelled run ignored should_stop() for too long.

    A BaseException so that `except Exception` in user or library code does not swallow it.
    """


class _Watcher:
    """The process's one guard thread: ticks each active guard every `heartbeat_s`."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.guards: dict[RunGuard, float] = {}  # guard → when its next beat is due
        self.thread: threading.Thread | None = None

    def add(self, guard: "RunGuard") -> None:
        with self.cond:
            self.guards[guard] = time.monotonic() + guard.heartbeat_s
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="run-guard", daemon=True)
                self.thread.start()
            self.cond.notify()

    def remove(self, guard: "RunGuard") -> None:
        with self.cond:
            self.guards.pop(guard, None)

    def _run(self) -> None:
        while True:
            with self.cond:
                now = time.monotonic()
                due = [g for g, t in self.guards.items() if t <= now]
                for g in due:
                    self.guards[g] = now + g.heartbeat_s
                if not due:
                    self.cond.wait(min(self.guards.values(), default=now + 60.0) - now)
                    continue
            for g in due:
                g._tick()


_WATCHER = _Watcher()


class StopFlags:
    """Why a run should stop: `cancelled`, `lost` (set by a heartbeat) or the worker's
    `shutdown`; read every step at no round trip."""

    def __init__(self, shutdown: threading.Event = SHUTDOWN):
        self.shutdown = shutdown
        self.cancelled = self.lost = False

    @property
    def reason(self) -> str | None:
        if self.lost:
            return "lost"
        if self.cancelled:
            return "cancelled"
        return "shutdown" if self.shutdown.is_set() else None

    def should_stop(self) -> bool:
        return self.lost or self.cancelled or self.shutdown.is_set()


class RunGuard(StopFlags):
    def __init__(self, sessions: Any, run_id: int, worker: str, *, heartbeat_s: float = 5.0,
                 cancel_grace_s: float = 30.0, shutdown: threading.Event = SHUTDOWN):
        super().__init__(shutdown)
        self.sessions, self.run_id, self.worker = sessions, run_id, worker
        self.heartbeat_s, self.cancel_grace_s = heartbeat_s, cancel_grace_s
        self.hard_stopped = False
        self._active = False
        self._busy = threading.Lock()  # held by a tick; __exit__ waits for one in flight
        self._cancel_seen: float | None = None
        self._target = threading.get_ident()

    def __enter__(self) -> "RunGuard":
        self._target = threading.get_ident()
        self._active = True
        _WATCHER.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _WATCHER.remove(self)
        with self._busy:  # a beat in flight ends before the guard is left
            self._active = False

    def beat(self) -> None:
        """One heartbeat: update the flags from the store (errors are retried next beat)."""
        with self.sessions() as db:
            state = lifecycle.heartbeat(db, run_id=self.run_id, worker=self.worker)
        if state is None:
            self.lost = True
        elif state:
            self.cancelled = True

    def _cancel_pending(self) -> bool:
        """A cancel the task thread may still be ignoring (its grace period runs)."""
        return self.cancelled

    def _tick(self) -> None:
        """One beat of the watcher thread, then the hard stop if a cancel has waited too long."""
        with self._busy:
            if not self._active:
                return
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - the store may be briefly away; the reaper's stale
                return  # threshold is many beats long
            if not self._cancel_pending():
                self._cancel_seen = None
                return
            if self._cancel_seen is None:
                self._cancel_seen = time.monotonic()
            if time.monotonic() - self._cancel_seen > self.cancel_grace_s:
                self._hard_stop()
                self._cancel_seen = time.monotonic()  # one more grace, then the process ends

    def _hard_stop(self) -> None:
        if not self.hard_stopped:
            self.hard_stopped = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._target),
                                                       ctypes.py_object(HardCancel))
            return
        # The task thread is stuck in native code: settle the run and end this process.
        with self.sessions() as db:
            lifecycle.finish(db, run_id=self.run_id, worker=self.worker, status="cancelled",
                             error="cancelled: the run did not stop; its worker process was ended")
        os._exit(75)
