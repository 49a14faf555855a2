"""The SQL store's schema (SQLAlchemy 2 typed models). The server owns it; workers write to it."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false as sa_false

from server import run_points
from server.timestamps import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")
FINISHED = ("succeeded", "failed", "diverged", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# JSON on SQLite, JSONB on PostgreSQL (binary, indexable; filters and grids read paths in SQL).
JSONV = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONV, list[Any]: JSONV}


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONV)
    params: Mapped[dict[str, Any]] = mapped_column(JSONV, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When one member fails or diverges, cancel the rest (server/lifecycle.apply_fail_fast).
    fail_fast: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_sweep_id_status", "sweep_id", "status"),
                      Index("ix_runs_sweep_id_config_hash", "sweep_id", "config_hash"),
                      # `where=KEY==VALUE` is containment on PostgreSQL (server/query.py)
                      Index("ix_runs_config_path_ops", "config", postgresql_using="gin",
                            postgresql_ops={"config": "jsonb_path_ops"}).ddl_if(dialect="postgresql"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONV)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONV, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONV, default=dict)
    cancel_requested: Mapped[int] = mapped_column(Integer, default=0)
    # sha256 of the canonical config without its name: a sweep resubmitted under the same name
    # reuses the members whose config already succeeded (skip-completed).
    config_hash: Mapped[str | None] = mapped_column(String(64))
    # the pack this run trains in (the id of the pack's first run); null when it trains alone
    pack_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The researcher's labels and note (server.run_notes): edited with PATCH, searched with where=.
    tags: Mapped[list[Any]] = mapped_column(JSONV, default=list, server_default="[]")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")


class MetricPoint(Base):
    """One value of one metric at one step; (run, key, step) is unique, so writes are upserts."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_id_key_seq", "run_id", "key", "seq"),)

    # No foreign key (a per-row check on every insert): the run is checked once per write and
    # its points deleted with it by a trigger (server/run_points.py).
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)  # None: the value was non-finite
    seq: Mapped[int | None] = mapped_column(Integer)  # row number in step order (server.metrics)


class MetricBlock(Base):
    """Summary of `server.blocks.BLOCK` consecutive rows of one series (server.blocks)."""

    __tablename__ = "metric_blocks"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)  # seq // BLOCK
    n: Mapped[int] = mapped_column(Integer)
    first_seq: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(Integer)
    first_value: Mapped[float | None] = mapped_column(Float)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_step: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[float | None] = mapped_column(Float)
    min_value: Mapped[float | None] = mapped_column(Float)  # None: every value non-finite
    min_seq: Mapped[int | None] = mapped_column(Integer)
    min_step: Mapped[int | None] = mapped_column(Integer)
    max_value: Mapped[float | None] = mapped_column(Float)
    max_seq: Mapped[int | None] = mapped_column(Integer)
    max_step: Mapped[int | None] = mapped_column(Integer)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Worker(Base):
    """A worker process's heartbeat, so /health can say who is alive without a broadcast."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    queues: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    current_run: Mapped[int | None] = mapped_column(Integer)


class ProbeJob(Base):
    """Probes asked of a finished run; results land as `probe` artifacts (server.probes)."""

    __tablename__ = "probe_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    probes: Mapped[list[Any]] = mapped_column(JSONV)
    params: Mapped[dict[str, Any]] = mapped_column(JSONV, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


run_points.install(Base.metadata)
