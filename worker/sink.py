"""`DBReporter`: the lipcore reporter a worker passes in.

Metric points are buffered and written to the store in batches (every `max_points` points or
`max_wait_s` seconds), each batch one idempotent upsert keyed by (run, key, step), so writing a
point twice keeps one. The count limit is large (5,000) and the time limit short (1 s): a slow
run still stores its points every second, a fast one pays a batch's fixed cost (run-row lock,
summary fold, commit) once per 5,000 points rather than per 500, which doubled ingest; lipcore
flushes before each checkpoint, so a checkpoint never runs ahead of the stored points. Live
events go out sooner (every `live_every_s`: `LIPLAB_LIVE_EVERY_S`, 0.2 s by default) over the
event bus, so a browser sees a point long before its batch is due. On a resumed run every step
up to `skip_until` is already stored and is not logged again.

With `background=True` (the worker's runs) the periodic batches and live events leave the
training thread: `log()` only converts the values to floats (once: the stored and the live
point share them; a value that is no number raises `ValueError` naming its key, at the call
that logged it) and appends the step and that dict to the buffers, and a flusher thread
of the reporter writes each batch when due and publishes every `live_every_s`, so no training
step waits for a store or broker round trip. `flush()` still writes in the caller's thread,
after any batch the flusher has in flight (one at a time), so a checkpoint never runs ahead of
the stored points; an error the flusher meets (other than an outage) is raised by the next
`log()`. The flusher ends after 2 s with nothing to do and starts again with the next point.

When the store is away (`server.outage.store_unavailable`), the periodic batch stays in the
buffer and is tried again with backoff while training goes on; `flush()` (before a checkpoint,
and the last one with the run's outcome) waits for the store, so no checkpoint runs ahead of
the stored points and no point is lost.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Iterable, TypeVar

from sqlalchemy import exists, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from server import metrics
from server.events import pack_doubles
from server.metrics import Series, write_series, write_series_many
from server.models import Artifact, utcnow
from server.outage import StoreOutage, store_unavailable, wait_for_store
from server.settings import LIVE_EVERY_S

T = TypeVar("T")
log = logging.getLogger("liplab.worker")

Point = tuple[str, int, float]
Entry = tuple[int, dict[str, float]]  # (step, values as floats) of one `log()` call


def not_a_number(values: dict[str, Any], step: int) -> ValueError:
    """The error for a `log()` call whose values are not all numbers: it names the first key
    whose value `float()` refuses, and its step."""
    for key, value in values.items():
        try:
            float(value)
        except (TypeError, ValueError):
            return ValueError(f"metric {key!r} at step {step}: {value!r} is not a number")
    return ValueError(f"metrics at step {step}: not all numbers")


def points_of(entries: Iterable[Entry]) -> list[Point]:
    """The (key, step, value) points of logged entries (values already floats), in logging order."""
    return [(k, s, v) for s, values in entries for k, v in values.items()]


def same_keys(entries: list[Entry]) -> Any:
    """The keys every entry logged (a training loop's usual log), or None when they vary or
    there are no entries: then the columns of a key line up with the entries."""
    if not entries:
        return None
    keys = entries[0][1].keys()
    return keys if all(values.keys() == keys for _, values in entries) else None


def series_of(entries: list[Entry]) -> Series:
    """The logged entries as {key: {step: value}} for `write_series`: when every entry has the
    same keys (a training loop's usual log), one dict per key built from columns, not a Python
    step per point; a later entry of the same step wins, as in the store."""
    keys = same_keys(entries)
    if keys is None:
        return metrics.series_of(points_of(entries))
    steps = [s for s, _ in entries]
    return {k: dict(zip(steps, [values[k] for _, values in entries])) for k in keys}


def live_points(entries: list[Entry], keys: Any) -> dict[str, Any]:
    """The points of a live event: as columns when every entry logged the same keys (a training
    loop's usual log): `steps` [n] and `values` {key: its n doubles packed}
    (`server.events.pack_doubles`: no float formatted in Python, where a float's JSON `repr`
    was most of a publish's CPU); else `points` [[key, step, value], ...], non-finite values
    null (JSON has none). `server.events.event_points` reads either back as points. `keys`:
    `same_keys(entries)`."""
    if keys is None:
        points = [[k, s, v] for s, values in entries for k, v in values.items()]
        if not math.isfinite(sum(map(itemgetter(2), points))):  # NaN or inf somewhere (or overflow)
            points = [[k, s, v if math.isfinite(v) else None] for k, s, v in points]
        return {"points": points}
    return {"steps": [s for s, _ in entries],
            "values": {k: pack_doubles([values[k] for _, values in entries]) for k in keys}}


def n_points(entries: Iterable[Entry]) -> int:
    return sum(len(values) for _, values in entries)

POINTS_OUTAGE = StoreOutage(logging.getLogger("liplab.worker"), "writing metric points")


class DBReporter:
    """Batches points into the store, publishes them live, answers `should_stop()` from `stop`.

    sessions: the worker's session factory; bus: a `server.events.EventBus` (or None);
    stop: a cheap flag reader (the run guard's), called every training step.
    """

    def __init__(self, sessions: sessionmaker[Session], run_id: int, *, bus: Any = None,
                 sweep_id: int | None = None, stop: Callable[[], bool] | None = None,
                 skip_until: int = -1, max_points: int = 5000, max_wait_s: float = 1.0,
                 live_every_s: float = LIVE_EVERY_S, background: bool = False):
        self.sessions, self.run_id, self.bus, self.sweep_id = sessions, run_id, bus, sweep_id
        self.stop = stop or (lambda: False)
        self.skip_until = skip_until
        self.max_points, self.max_wait_s, self.live_every_s = max_points, max_wait_s, live_every_s
        self.buffer: list[Entry] = []  # not yet in the store
        self.buffered = 0  # points in `buffer`
        self.live: list[Entry] = []  # not yet published
        self.files: list[tuple[str, str, str]] = []  # artifact rows not yet stored
        self.last_flush = self.last_live = time.monotonic()
        self.published: dict[str, int] = {}  # key → newest step sent live
        self.lock = threading.Lock()  # log() runs in the task thread, flush() also at the end
        self.written = 0
        self.retry_at, self.backoff_s = 0.0, 0.1  # periodic batches during a store outage
        self.background = background
        self.write_lock = threading.Lock()  # one batch in flight: flush() waits for the flusher's
        self.publish_lock = threading.Lock()  # `published` is read and written by both threads
        self.wake = threading.Event()
        self.flusher: threading.Thread | None = None
        self.failure: BaseException | None = None  # met by the flusher, raised by the next log()

    def log(self, values: dict[str, float], step: int) -> None:
        if step <= self.skip_until:
            return  # stored by an earlier attempt of this run
        step = int(step)
        try:  # once, here: the stored and the live point share the float
            entry = (step, {k: float(v) for k, v in values.items()})
        except (TypeError, ValueError):
            raise not_a_number(values, step) from None
        with self.lock:
            self.buffer.append(entry)
            self.buffered += len(entry[1])
            if self.bus is not None:  # nothing to publish to: do not keep a second copy
                self.live.append(entry)
            if self.background:
                if self.failure is not None:
                    failure, self.failure = self.failure, None
                    raise failure
                if self.flusher is None:
                    self.flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                                    name=f"liplab-reporter-{self.run_id}")
                    self.flusher.start()
                if self.buffered >= self.max_points:
                    self.wake.set()
                return
        now = time.monotonic()
        due = self.buffered >= self.max_points or now - self.last_flush >= self.max_wait_s
        if due and now >= self.retry_at:
            self._try_flush(now)
        elif now - self.last_live >= self.live_every_s:
            self.publish()

    def _flush_loop(self) -> None:
        """The flusher thread (`background=True`): periodic batches and live events, off the
        training thread; ends after 2 s idle (under the lock, so `log()` starts a new one)."""
        period = min(self.live_every_s if self.bus is not None else 1.0, self.max_wait_s, 1.0)
        idle_since = time.monotonic()
        while True:
            self.wake.wait(max(period, 0.005))
            self.wake.clear()
            now = time.monotonic()
            with self.lock:
                pending, live = self.buffered, bool(self.live)
                if not pending and not live and now - idle_since > 2.0:
                    self.flusher = None
                    return
            if pending or live:
                idle_since = now
            try:
                if pending and (pending >= self.max_points or now - self.last_flush >= self.max_wait_s) \
                        and now >= self.retry_at:
                    with self.write_lock:
                        self._try_flush(now)
                elif live and now - self.last_live >= self.live_every_s:
                    self.publish()
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread
                with self.lock:
                    self.failure, self.flusher = exc, None
                return

    def _try_flush(self, now: float) -> None:
        """A periodic batch: if the store is away, keep the points and try again after a backoff
        (0.1 s doubling to 1 s) instead of stopping the run."""
        try:
            self._write(None)
        except Exception as exc:  # noqa: BLE001 - only an outage is tolerated here
            if not store_unavailable(exc):
                raise
            POINTS_OUTAGE.failed(exc)
            self.retry_at, self.backoff_s = now + self.backoff_s, min(1.0, self.backoff_s * 2)
            self.publish()
            return
        POINTS_OUTAGE.ok()
        self.retry_at, self.backoff_s = 0.0, 0.1

    def resumed(self, step: int) -> None:
        """Told by lipcore that training resumes after `step`: nothing up to it is logged again."""
        log.info("run %s resumes from its checkpoint at step %s", self.run_id, step)
        self.skip_until = max(self.skip_until, int(step))

    def flush(self, then: Callable[[Session], T] | None = None) -> T | None:
        """Write the buffered points and artifact rows in one transaction, then publish; while
        the store is away, wait for it (retrying with backoff).

        `then(session)` runs inside that same transaction before it commits (the worker settles
        the run's final status there, so the last points, the artifact rows and the status land
        together or not at all); its result is returned. On any other error nothing is kept as
        written: the buffers are restored and the error propagates.
        """
        with self.write_lock:  # after the flusher's batch in flight, if any
            return wait_for_store(lambda: self._write(then), POINTS_OUTAGE)

    def pending(self) -> list[Point]:
        """The points logged and not yet stored."""
        with self.lock:
            return points_of(self.buffer)

    def _take(self) -> tuple[list[Entry], list[tuple[str, str, str]]]:
        """Empty the buffers for a write: (entries, artifact rows)."""
        with self.lock:
            batch, self.buffer, self.buffered = self.buffer, [], 0
            files, self.files = self.files, []
        return batch, files

    def _restore(self, batch: list[Entry], files: list[tuple[str, str, str]]) -> None:
        """Put back what a failed write took, before anything logged since."""
        with self.lock:
            self.buffer, self.files = batch + self.buffer, files + self.files
            self.buffered = n_points(self.buffer)

    def _write(self, then: Callable[[Session], T] | None) -> T | None:
        """One attempt of `flush`; on error the buffers are restored and the error raised."""
        batch, files = self._take()
        result = None
        if batch or files or then is not None:
            try:
                with self.sessions() as db:
                    self._add_artifacts(db, files)
                    if then is not None:
                        result = then(db)
                    if batch:
                        write_series(db, self.run_id, series_of(batch))  # commits the rest too
                    else:
                        db.commit()
            except BaseException:
                self._restore(batch, files)
                raise
            self.written += n_points(batch)
        self.last_flush = time.monotonic()
        self.publish()
        return result

    def publish(self) -> None:
        with self.publish_lock:
            self._publish()

    def _publish(self) -> None:
        with self.lock:
            entries, self.live = self.live, []
        self.last_live = time.monotonic()
        if entries and self.bus is not None:
            # `after`: per key, the step before this event's first point, so a listener that
            # has less can tell it missed something (and read it from the store instead)
            keys = dict.fromkeys(chain.from_iterable(values for _, values in entries))
            after = {k: self.published.get(k, self.skip_until) for k in keys}
            newest: dict[str, int] = {}  # key → its highest step in this event
            same = same_keys(entries)
            if same is not None:
                newest = dict.fromkeys(keys, max(s for s, _ in entries))
            else:
                for s, values in sorted(entries, key=itemgetter(0)):
                    newest.update(dict.fromkeys(values, s))
            for k, s in newest.items():
                self.published[k] = max(s, self.published.get(k, s))
            event = {"type": "metrics", "run_id": self.run_id, "after": after,
                     **live_points(entries, same)}
            self.bus.publish(event, self.run_id, self.sweep_id)

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        """Recorded with the next batch of points (a checkpoint costs no transaction of its own)."""
        with self.lock:
            self.files.append((name, path, kind))
        if kind != "checkpoint":
            self.flush()  # a probe result or figure is shown at once

    def _add_artifacts(self, db: Session, files: list[tuple[str, str, str]]) -> None:
        """One row per (run, name, path): a resumed or re-probed run does not duplicate it.

        Each file is one `INSERT … SELECT … WHERE NOT EXISTS` (one round trip, no read first).
        """
        now = literal(utcnow(), Artifact.created_at.type)
        for name, path, kind in dict.fromkeys(files):
            present = exists().where(Artifact.run_id == self.run_id, Artifact.name == name,
                                     Artifact.path == path)
            row = select(literal(self.run_id), literal(name), literal(path), literal(kind), now)
            db.execute(insert(Artifact).from_select(["run_id", "name", "path", "kind", "created_at"],
                                                    row.where(~present)))

    def should_stop(self) -> bool:
        return self.stop()


def flush_together(reporters: list[DBReporter], then: Callable[[Session], T] | None = None) -> T | None:
    """`flush()` of several runs' reporters (a pack's members) in one transaction: their points
    and artifact rows land together or not at all, for one commit instead of one per run;
    while the store is away, wait for it like `flush()`. `then(session)` runs inside that
    transaction before it commits (the pack settles all its members' outcomes there) and its
    result is returned."""
    if not reporters:
        return None
    return wait_for_store(lambda: _write_together(reporters, then), POINTS_OUTAGE)


def _write_together(reporters: list[DBReporter], then: Callable[[Session], T] | None = None) -> T | None:
    """One attempt of `flush_together`; on error every buffer is restored and the error raised."""
    taken = [(r, *r._take()) for r in reporters]
    result = None
    if then is not None or any(batch or files for _, batch, files in taken):
        try:
            series = {r.run_id: series_of(batch) for r, batch, _ in taken if batch}
            with reporters[0].sessions() as db:
                for r, _, files in taken:
                    r._add_artifacts(db, files)
                if then is not None:
                    result = then(db)
                write_series_many(db, series)
                db.commit()
        except BaseException:
            for r, batch, files in taken:
                r._restore(batch, files)
            raise
    now = time.monotonic()
    for r, batch, _ in taken:
        r.written += n_points(batch)
        r.last_flush = now
        r.publish()
    return result
