"""Stores a reliability test may crash: a private PostgreSQL cluster (`initdb` + `pg_ctl`) and a
private redis-server (`tests.worker.lab.RedisServer`), each on a spare port, so the machine's own
services are never touched."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.live import free_port
from tests.services import need


def pg_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else in Debian's versioned folder (newest)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return str(candidates[-1]) if candidates else None


class PostgresCluster:
    """A throw-away cluster in a temporary folder; `stop()` is an immediate (crash-like) stop.

    `fsync=off` is safe here (the machine does not crash, only PostgreSQL); commits stay
    synchronous, so every commit a client saw survives the crash, as in production.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user.
    """

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        need(self.initdb is not None and self.pg_ctl is not None,
             "PostgreSQL's initdb and pg_ctl (on PATH or under /usr/lib/postgresql)")
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="liplab-pg-"))
        if self.user:
            shutil.chown(self.folder, self.user)
        self.data, self.port = self.folder / "data", free_port()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str) -> None:
        done = subprocess.run(list(args), user=self.user, cwd=self.folder, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def init(self) -> "PostgresCluster":
        self._pg(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                 "--no-instructions")
        return self.start()

    def start(self) -> "PostgresCluster":
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c full_page_writes=off")
        self._pg(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                 "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        self._pg(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
