"""A run's folder mirrored to an object store (S3, MinIO, GCS… through fsspec), for workers on
machines that share no folder.

Without `LIPLAB_ARTIFACT_STORE` the artifact folder itself is the shared storage (an NFS mount)
and nothing here runs. With it, e.g. `s3://lab-bucket/liplab`, every process keeps working in its
local `<artifacts>/runs/<id>/`, and `RunMirror` keeps that in step with
`<store>/runs/<id>/`: a worker pulls the folder before it trains (so a run that moved from a
killed worker resumes from the last checkpoint that worker uploaded), pushes new and changed
files every `every_s` seconds while it trains and once more at the end; the API pulls the one
file it serves (an artifact, a probe result) into its own folder. Files are only ever written whole
(checkpoints and results are renamed into place), so an upload never sees half a file; names
ending in `.tmp` are skipped. Endpoint and credentials come from fsspec's and the store's
own settings (`FSSPEC_S3_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("liplab.artifacts")


class RunMirror:
    """`<local>` ⇄ `<store_url>/runs/<run_id>`; usable as a context manager (pull, push in the
    background, final push)."""

    def __init__(self, store_url: str, local: Path, run_id: int, every_s: float = 5.0):
        try:
            from fsspec.core import url_to_fs
        except ImportError:
            raise RuntimeError("LIPLAB_ARTIFACT_STORE needs fsspec (and s3fs for s3://): "
                               "pip install fsspec s3fs") from None
        self.fs, root = url_to_fs(store_url.rstrip("/"))
        self.remote = f"{root}/runs/{run_id}"
        self.local, self.every_s = Path(local), every_s
        self.pushed: dict[str, tuple[int, int]] = {}  # relative path → (size, mtime_ns) uploaded
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _remote_files(self) -> dict[str, int]:
        """relative path → size of every file under the remote folder."""
        try:
            found = self.fs.find(self.remote, detail=True)
        except FileNotFoundError:
            return {}
        prefix = self.remote.rstrip("/") + "/"
        return {p[len(prefix):]: int(info.get("size") or 0) for p, info in found.items()
                if p.startswith(prefix) and info.get("type") != "directory"}

    def pull(self, only: str | None = None) -> int:
        """Download the remote files (or just `only`, a path inside the run's folder) missing
        locally or of another size; how many."""
        n = 0
        for rel, size in self._remote_files().items():
            if only is not None and rel != only:
                continue
            target = self.local / rel
            if target.is_file() and target.stat().st_size == size:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            self.fs.get_file(f"{self.remote}/{rel}", str(tmp))
            tmp.replace(target)
            stat = target.stat()
            self.pushed[rel] = (stat.st_size, stat.st_mtime_ns)
            n += 1
        return n

    def push(self) -> int:
        """Upload the local files that are new or changed since the last push; how many."""
        n = 0
        if not self.local.is_dir():
            return 0
        for path in sorted(self.local.rglob("*")):
            if not path.is_file() or path.name.endswith(".tmp"):
                continue
            rel = path.relative_to(self.local).as_posix()
            stat = path.stat()
            if self.pushed.get(rel) == (stat.st_size, stat.st_mtime_ns):
                continue
            target = f"{self.remote}/{rel}"
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)  # a no-op on object stores
            self.fs.put_file(str(path), target)
            self.pushed[rel] = (stat.st_size, stat.st_mtime_ns)
            n += 1
        return n

    def forget(self) -> None:
        """Delete the run's remote folder: an attempt the store holds no point of (a run
        re-run from scratch) must not come back from the mirror on the next machine."""
        try:
            self.fs.rm(self.remote, recursive=True)
        except FileNotFoundError:
            pass
        self.pushed.clear()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.push()
            except Exception as e:  # noqa: BLE001 - a missed upload is retried at the next tick
                log.warning("artifact upload to %s failed: %s", self.remote, e)

    def __enter__(self) -> "RunMirror":
        self.pull()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="artifact-mirror")
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.push()


def mirror(settings: Any, local: Path, run_id: int) -> "RunMirror | None":
    """The run's mirror when the settings name an artifact store, else None."""
    if not getattr(settings, "artifact_store", None):
        return None
    return RunMirror(settings.artifact_store, local, run_id, every_s=settings.artifact_sync_s)


def local_copy(settings: Any, run_id: int, stored: str | Path) -> Path:
    """Where this process finds a file a worker recorded for run `run_id` (its `stored` path is
    that worker's): as it is without a store; else pulled from the store into this process's
    own `<artifacts>/runs/<id>/` at the same place inside the run's folder (that file only)."""
    stored = Path(stored)
    if not getattr(settings, "artifact_store", None):
        return stored
    parts = stored.parts
    marks = [i for i in range(len(parts) - 1) if parts[i] == "runs" and parts[i + 1] == str(run_id)]
    if not marks:
        return stored
    rel = Path(*parts[marks[-1] + 2:])
    local = Path(settings.artifacts) / "runs" / str(run_id)
    RunMirror(settings.artifact_store, local, run_id).pull(only=rel.as_posix())
    return local / rel
