"""`python -m worker.healthcheck`: exit 0 when every worker process of this machine (named
`<label>@<hostname>`) has sent a heartbeat within LIPLAB_WORKER_STALE_S, else 1 with the reason.

The container healthcheck of the compose workers: it reads the same `workers` table as /health,
so a worker whose training thread hangs the process (no heartbeat) shows as unhealthy.
"""
from __future__ import annotations

import socket
import sys
from datetime import timedelta

from sqlalchemy import select

from server.models import Worker, utcnow
from server.settings import get_settings
from worker.store import sessions


def check(host: str | None = None) -> str | None:
    """None when this host's workers are alive, else what is wrong."""
    host = host or socket.gethostname()
    cutoff = utcnow() - timedelta(seconds=get_settings().worker_stale_s)
    with sessions()() as db:
        rows = db.scalars(select(Worker).where(Worker.name.like(f"%@{host}"))).all()
    if not rows:
        return f"no worker of {host} has started yet"
    stale = [w.name for w in rows
             if (w.last_seen if w.last_seen.tzinfo else w.last_seen.replace(tzinfo=cutoff.tzinfo)) < cutoff]
    return f"no heartbeat from {', '.join(stale)}" if stale else None


if __name__ == "__main__":
    problem = check()
    if problem:
        print(problem, file=sys.stderr)
    sys.exit(1 if problem else 0)
