"""Engine and session factory; SQLite gets WAL and a busy timeout so API and workers share it.

Requests queue for a connection rather than fail: a request waits up to `pool_timeout_s`
(`LIPLAB_DB_POOL_TIMEOUT_S`, default 300 s) for one. The SQLite pool holds more connections than
the API has request threads (anyio's 40), so on the embedded store no request waits for the pool
at all; concurrent readers share the WAL file and a writer waits up to the busy timeout for the
write lock.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


SQLITE_POOL, SQLITE_OVERFLOW = 8, 56  # 64 connections > the 40 request threads
PG_POOL, PG_OVERFLOW = 10, 20


def make_engine(url: str, pool_timeout_s: float = 300.0) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        pool = {}
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": SQLITE_POOL, "max_overflow": SQLITE_OVERFLOW,
                    "pool_timeout": pool_timeout_s}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # noqa: ANN001
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # JIT compiles each analytical query again (~30 ms) for no gain on these short scans.
    connect_args = {"options": "-c jit=off"} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL, max_overflow=PG_OVERFLOW,
                         pool_timeout=pool_timeout_s, connect_args=connect_args)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A pooled connection in autocommit for a read: no BEGIN and ROLLBACK round trips around its
    statements. Each statement still sees its own snapshot, as under READ COMMITTED in a
    transaction."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn
