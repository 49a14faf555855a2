"""`execute_pack`: one attempt at a pack of runs, each member settled as `execute_run` settles
a run alone, with the pack's round trips paid once for all its members.

- Claim: one statement and one commit for every member (`lifecycle.claim_runs`, the same
  compare-and-set per row: a member someone else holds, or that is no longer queued, is left
  out, so a redelivered pack message claims nothing twice).
- During training: one `PackGuard` (one heartbeat statement for all members every
  `run_heartbeat_s`, per-member cancel flags) and one `DBReporter` per member (its points,
  artifacts, live events), whose buffered points the pack stores together
  (`sink.flush_together`, one transaction per round); each member keeps its own folder of
  checkpoints. lipcore's `run_pack` trains them together (on a GPU in vectorised groups that
  fit `Settings.pack_memory_fraction` of its free memory, `lipcore.training.pack_memory`) and
  returns one summary per member.
- Settle: every member's last points, artifact rows and outcome (final status, or handed back
  to the queue) in one transaction (`settle_pack`); the sweep's fail_fast then once for the
  members that failed or diverged.

A cancel stops only its member. A worker shutting down hands every unfinished member back, and
they are sent again as one pack, which resumes each member from the newest checkpoint all of
them share; a worker that vanishes is noticed by the reaper per run, and each member then
resumes alone from its own checkpoints (they are ordinary run checkpoints).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

from server import lifecycle
from server.artifact_store import mirror
from server.outage import wait_for_store
from server.settings import Settings
from worker.guard import SHUTDOWN, HardCancel
from worker.pack_guard import PackGuard
from worker.resume import forget_unstored_attempt, run_dir
from worker.runner import TASK_OUTAGE, publish_status, short_traceback
from worker.sink import DBReporter, flush_together


def execute_pack(run_ids: list[int], *, worker: str, settings: Settings, sessions: Any, bus: Any,
                 enqueue_pack: Callable[[list[int]], None]) -> dict[int, str]:
    """Returns what happened to each run: its final status, "requeued", "lost" or "skipped"."""
    from lipcore.pack_run import run_pack
    from lipcore.training.pack_memory import PackSizer

    def claim() -> dict[int, lifecycle.Claimed]:
        with sessions() as db:
            return lifecycle.claim_runs(db, run_ids=list(run_ids), worker=worker)

    won = wait_for_store(claim, TASK_OUTAGE, stop=SHUTDOWN.is_set)
    outcome: dict[int, str] = {run_id: "skipped" for run_id in run_ids if run_id not in won}
    members = [(run_id, won[run_id]) for run_id in run_ids if run_id in won]
    if not members:
        return outcome
    guard = PackGuard(sessions, [run_id for run_id, _ in members], worker,
                      heartbeat_s=settings.run_heartbeat_s, cancel_grace_s=settings.cancel_grace_s)
    reporters = []
    for run_id, claimed in members:
        publish_status(bus, run_id, claimed.sweep_id, "running")
        # stored together by the pack (`flush_together`), not each on its own timer
        reporters.append(DBReporter(sessions, run_id, bus=bus, sweep_id=claimed.sweep_id,
                                    stop=guard.members[run_id].should_stop,
                                    skip_until=claimed.last_step - 1, max_wait_s=math.inf,
                                    live_every_s=settings.live_every_s))
    results: list[tuple[str, str | None]]
    try:
        workdirs = [run_dir(settings.artifacts, rid) for rid, _ in members]
        with guard, contextlib.ExitStack() as stack:
            for (run_id, claimed), workdir in zip(members, workdirs):
                synced = stack.enter_context(mirror(settings, workdir, run_id)
                                             or contextlib.nullcontext())
                forget_unstored_attempt(workdir, claimed.last_step, synced)  # overwritten: afresh
            summaries = run_pack([c.config for _, c in members], reporters, workdirs,
                                 resume_from="auto", flush_many=flush_together,
                                 sizer=PackSizer(fraction=settings.pack_memory_fraction))
        results = [(s["status"], s.get("error")) for s in summaries]
    except HardCancel:  # a member ignored its cancel: it ends cancelled, the rest go back
        results = [("cancelled", "cancelled: stopped by force after the grace period")
                   if guard.members[rid].cancelled else ("requeue", None) for rid, _ in members]
    except Exception:  # noqa: BLE001 - a failure of the pack as a whole fails every member
        error = short_traceback()
        results = [("failed", error)] * len(members)
    done, again = settle_pack(members, results, guard=guard, reporters=reporters, worker=worker,
                              sessions=sessions, bus=bus)
    outcome.update(done)
    if again:
        enqueue_pack(again)
    return outcome


def settle_pack(members: list[tuple[int, lifecycle.Claimed]], results: list[tuple[str, str | None]],
                *, guard: PackGuard, reporters: list[DBReporter], worker: str, sessions: Any,
                bus: Any) -> tuple[dict[int, str], list[int]]:
    """`runner.settle` for every member in one transaction: the last points and artifact rows
    of all of them, each member's final status or requeue (the same compare-and-set on the
    owning worker; a member lost to the reaper is only left its points). Returns each
    member's outcome and the members handed back, to send again as one pack."""
    plan: dict[int, tuple[str, str | None]] = {}
    for (run_id, _), (status, error) in zip(members, results):
        reason = guard.members[run_id].reason
        if reason == "lost":
            plan[run_id] = ("lost", None)
        elif status == "requeue" or (status == "cancelled" and reason == "shutdown"):
            why = "worker shut down" if reason == "shutdown" else "its pack was stopped"
            plan[run_id] = ("requeue", f"requeued: {why}")
        else:
            plan[run_id] = (status, error)

    def outcomes(db: Any) -> dict[int, bool]:
        won = {}
        for run_id in sorted(plan):  # rows locked in id order, as the points are
            action, text = plan[run_id]
            if action == "requeue":
                won[run_id] = lifecycle.mark_requeued(db, run_id=run_id, worker=worker, reason=text)
            elif action != "lost":
                won[run_id] = lifecycle.mark_finished(db, run_id=run_id, worker=worker,
                                                      status=action, error=text)
        return won

    won = flush_together(reporters, outcomes) or {}
    done: dict[int, str] = {}
    again: list[int] = []
    for run_id, claimed in members:
        action, text = plan[run_id]
        if action == "lost" or not won.get(run_id):
            done[run_id] = "lost"
        elif action == "requeue":
            again.append(run_id)
            done[run_id] = "requeued"
            publish_status(bus, run_id, claimed.sweep_id, "queued")
        else:
            done[run_id] = action
    failing = [r for r, status in done.items() if status in ("failed", "diverged")]
    if failing:
        def fail_fast() -> None:
            with sessions() as db:
                for run_id in failing:
                    lifecycle.after_finish(db, run_id=run_id, status=done[run_id])
        wait_for_store(fail_fast, TASK_OUTAGE)
    for run_id, claimed in members:
        if done[run_id] not in ("lost", "requeued"):
            publish_status(bus, run_id, claimed.sweep_id, done[run_id], plan[run_id][1])
    return done, again
