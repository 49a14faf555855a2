"""Deployment settings: one `Settings` per process, from `LIPLAB_*` environment variables.

The embedded default keeps everything under `LIPLAB_HOME` (~/.liplab): a SQLite file, the
artifacts, and a filesystem broker folder, so `liplab up` needs no external service.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


# How often a training run publishes its new points as a live event (seconds). Each event costs
# the worker ≈ 160 µs of CPU (JSON and PUBLISH) plus Redis's and the API relay's share, whatever
# it holds; a live point reaches an SSE client after half of this on average (docs/benchmarks.md,
# "Logging overhead inside a training step", has the measurements behind the default).
LIVE_EVERY_S = 0.2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIPLAB_", extra="ignore")

    home: Path = Path.home() / ".liplab"
    database_url: str | None = None
    broker_url: str | None = None
    artifact_dir: Path | None = None
    # An fsspec URL (s3://bucket/prefix) that run folders are mirrored to, for workers on machines
    # that share no folder (server/artifact_store.py); pushed every artifact_sync_s while training.
    artifact_store: str | None = None
    artifact_sync_s: float = 5.0
    # folders a config may name (data.root, a probe's saved run), os.pathsep-separated
    data_roots: str | None = None
    api_token: str | None = None
    reads_need_token: bool = True  # with api_token set; false opens the reads to anyone
    cors_origins: str | None = None  # comma-separated origins a browser may call from; none by default
    max_runs_per_sweep: int = 10_000
    dashboard_url: str = "http://127.0.0.1:8050"
    worker_stale_s: float = 30.0
    max_body_bytes: int = 8 * 1024 * 1024  # larger request bodies are refused with 413
    db_pool_timeout_s: float = 300.0  # a request waits this long for a connection, then fails
    sse_poll_s: float = 1.0  # how often SSE streams poll the store in the embedded mode
    live_every_s: float = LIVE_EVERY_S  # a worker publishes a run's new points this often
    # A live-event stream closes after this many seconds (without `end`); clients reconnect, as
    # EventSource does by itself. Bounds what one idle client holds open.
    sse_max_s: float = 3600.0
    store_wait_s: float = 10.0  # how long an API read waits for an unavailable store before 503
    # Run lifecycle (server/lifecycle.py, worker/guard.py): a running run's worker touches
    # heartbeat_at every run_heartbeat_s; a run silent for run_stale_s is reaped: requeued, or
    # failed once it has been claimed more than max_retries + 1 times. cancel_grace_s is how long
    # a cooperative cancel may take before the worker stops the run by force.
    run_heartbeat_s: float = 5.0
    run_stale_s: float = 60.0
    max_retries: int = 3
    cancel_grace_s: float = 30.0
    # Packed sweeps on a GPU (lipcore/training/pack_memory.py): a pack trains in vectorised
    # groups sized so one group's measured footprint fits this fraction of the device's free
    # memory when the pack starts (several workers on one GPU each take a share of what is
    # left). No effect on the CPU.
    pack_memory_fraction: float = 0.8
    # torch's intra-op threads in each worker (torch.set_num_threads at worker start); 0 leaves
    # torch's default, one per core. The models liplab trains are small: a tiny op split over
    # threads costs more in hand-offs than it gains, and threads that spin while another process
    # holds a core stall (a sine LDLT run alone on a 2-core box under load: 8.4 s with 2
    # threads, 1.0 s with 1). A lab worker on a many-core box with large CPU models raises it.
    torch_threads: int = 1

    @field_validator("max_runs_per_sweep")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @field_validator("live_every_s", "torch_threads")
    @classmethod
    def _not_negative(cls, v: float) -> float:
        if not v >= 0:
            raise ValueError("must be 0 or more")
        return v

    @field_validator("pack_memory_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError("must be in (0, 1]")
        return v

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'liplab.db'}"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in (self.cors_origins or "").split(",") if o.strip()]

    @property
    def data_root_list(self) -> list[Path]:
        if not self.data_roots:
            return [self.home / "data"]
        return [Path(p) for p in self.data_roots.split(os.pathsep) if p]

    @property
    def artifacts(self) -> Path:
        return self.artifact_dir or self.home / "artifacts"

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url is None

    def celery_config(self) -> dict[str, Any]:
        """Broker settings shared by the API (which only sends) and the workers."""
        if self.broker_url:
            return {"broker_url": self.broker_url,
                    "broker_transport_options": {"visibility_timeout": 7 * 24 * 3600}}
        folder = self.home / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "broker_url": "filesystem://",
            "broker_transport": "server.fs_broker:Transport",  # a missing folder is a pause
            "broker_transport_options": {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
                "store_processed": False,
            },
        }


def redacted(url: str | None) -> str:
    """`url` with its password replaced by ***, for logs and messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    if parts.password is None:
        return url or ""
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@lru_cache
def get_settings() -> Settings:
    return Settings()
