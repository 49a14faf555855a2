"""`execute_pack`: one attempt at a pack of runs, each member settled as `execute_run` settles
a run alone.

Each member is claimed with the same compare-and-set (a member someone else holds, or that
is no longer queued, is left out), gets its own `RunGuard` (heartbeat, cancel flag) and its own
`DBReporter` (its points, artifacts, live events), and keeps its own folder of checkpoints;
lipcore's `run_pack` trains them together and returns one summary per member. A cancel stops
only its member. A worker shutting down hands every unfinished member back, and they are sent
again as one pack, which resumes each member from the newest checkpoint all of them share; a
worker that vanishes is noticed by the reaper per run, and each member then resumes alone
from its own checkpoints (they are ordinary run checkpoints).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

from server import lifecycle
from server.artifact_store import mirror
from server.settings import Settings
from worker.guard import HardCancel, RunGuard
from worker.resume import forget_unstored_attempt, run_dir
from worker.runner import publish_status, settle, short_traceback
from worker.sink import DBReporter, flush_together


def execute_pack(run_ids: list[int], *, worker: str, settings: Settings, sessions: Any, bus: Any,
                 enqueue_pack: Callable[[list[int]], None]) -> dict[int, str]:
    """Returns what happened to each run: its final status, "requeued", "lost" or "skipped"."""
    from lipcore.pack_run import run_pack

    outcome: dict[int, str] = {}
    members = []
    for run_id in run_ids:
        with sessions() as db:
            claimed = lifecycle.claim_run(db, run_id=run_id, worker=worker)
        if claimed is None:
            outcome[run_id] = "skipped"
        else:
            members.append((run_id, claimed))
    if not members:
        return outcome
    guards, reporters = [], []
    for run_id, claimed in members:
        publish_status(bus, run_id, claimed.sweep_id, "running")
        guard = RunGuard(sessions, run_id, worker, heartbeat_s=settings.run_heartbeat_s,
                         cancel_grace_s=settings.cancel_grace_s)
        guards.append(guard)
        # stored together by the pack (`flush_together`), not each on its own timer
        reporters.append(DBReporter(sessions, run_id, bus=bus, sweep_id=claimed.sweep_id,
                                    stop=guard.should_stop, skip_until=claimed.last_step - 1,
                                    max_wait_s=math.inf))
    results: list[tuple[str, str | None]]
    try:
        workdirs = [run_dir(settings.artifacts, rid) for rid, _ in members]
        with contextlib.ExitStack() as stack:
            for guard, (run_id, claimed), workdir in zip(guards, members, workdirs):
                stack.enter_context(guard)
                synced = stack.enter_context(mirror(settings, workdir, run_id)
                                             or contextlib.nullcontext())
                forget_unstored_attempt(workdir, claimed.last_step, synced)  # overwritten: afresh
            summaries = run_pack([c.config for _, c in members], reporters, workdirs,
                                 resume_from="auto", flush_many=flush_together)
        results = [(s["status"], s.get("error")) for s in summaries]
    except HardCancel:  # one member ignored its cancel: it ends cancelled, the rest go back
        results = [("cancelled", "cancelled: stopped by force after the grace period")
                   if g.cancelled else ("requeue", None) for g in guards]
    except Exception:  # noqa: BLE001 - a failure of the pack as a whole fails every member
        error = short_traceback()
        results = [("failed", error)] * len(members)
    again: list[int] = []
    for (run_id, claimed), guard, reporter, (status, error) in zip(members, guards, reporters, results):
        if status == "requeue":
            if reporter.flush(lambda db, rid=run_id: lifecycle.mark_requeued(
                    db, run_id=rid, worker=worker, reason="requeued: its pack was stopped")):
                again.append(run_id)
            outcome[run_id] = "requeued"
            continue
        outcome[run_id] = settle(run_id, claimed.sweep_id, status, error, guard=guard,
                                 reporter=reporter, worker=worker, sessions=sessions, bus=bus,
                                 enqueue=again.append)
    if again:
        enqueue_pack(again)
    return outcome
