"""`PackGuard`: one `RunGuard` beat for every member of a pack.

A pack of P runs trains in one task thread, so it needs one heartbeat, not P: every
`heartbeat_s` the guard touches all its members' rows and reads their cancel flags in one
statement (`lifecycle.heartbeat_runs`), on the process's one watcher thread. Each member keeps
its own flags (`MemberFlags`: `cancelled`, `lost`, and the worker-wide shutdown), read by its
reporter's `should_stop()` every step at no round trip, so a cancel stops only its member.

Hard stop, as for a run alone: a member whose cancel the task thread has not heeded (its
`should_stop()` has not answered True since) for `cancel_grace_s` raises `HardCancel` in the
task thread (the pack then ends that member `cancelled` and hands the others back); if even
that does not land within another grace period, the unheeded members are marked cancelled in
one transaction and the worker process ends (the reaper requeues the rest).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

from server import lifecycle
from worker.guard import SHUTDOWN, RunGuard, StopFlags


class MemberFlags(StopFlags):
    """One member's flags: what `RunGuard` answers for a run alone, and whether the task
    thread has been told to stop since its cancel arrived (`heeded`)."""

    def __init__(self, shutdown: threading.Event):
        super().__init__(shutdown)
        self.heeded = False

    def should_stop(self) -> bool:
        stop = super().should_stop()
        if stop and self.cancelled:
            self.heeded = True
        return stop


class PackGuard(RunGuard):
    """Heartbeat and cancel flags of `run_ids` (claimed by `worker`); `members[run_id]` holds
    each member's flags. Enter and leave it like a `RunGuard`."""

    def __init__(self, sessions: Any, run_ids: list[int], worker: str, *, heartbeat_s: float = 5.0,
                 cancel_grace_s: float = 30.0, shutdown: threading.Event = SHUTDOWN):
        super().__init__(sessions, run_ids[0], worker, heartbeat_s=heartbeat_s,
                         cancel_grace_s=cancel_grace_s, shutdown=shutdown)
        self.run_ids = list(run_ids)
        self.members = {run_id: MemberFlags(shutdown) for run_id in self.run_ids}

    def beat(self) -> None:
        """One heartbeat of every member (one statement): update their flags."""
        with self.sessions() as db:
            owned = lifecycle.heartbeat_runs(db, run_ids=self.run_ids, worker=self.worker)
        for run_id, flags in self.members.items():
            if run_id not in owned:
                flags.lost = True
            elif owned[run_id]:
                flags.cancelled = True
        self.lost = all(f.lost for f in self.members.values())

    def unheeded(self) -> list[int]:
        """Members whose cancel arrived and whose training has not been told to stop yet."""
        return [r for r, f in self.members.items() if f.cancelled and not f.heeded and not f.lost]

    def _cancel_pending(self) -> bool:
        return bool(self.unheeded()) or self.hard_stopped

    def _hard_stop(self) -> None:
        if not self.hard_stopped:
            self.cancelled = True  # what `execute_pack` reads after `HardCancel`
            super()._hard_stop()
            return
        # The task thread is stuck in native code: settle the unheeded members, end the process.
        with self.sessions() as db:
            for run_id in sorted(self.unheeded()):
                lifecycle.mark_finished(db, run_id=run_id, worker=self.worker, status="cancelled",
                                        error="cancelled: the run did not stop; its worker "
                                              "process was ended")
            db.commit()
        os._exit(75)
