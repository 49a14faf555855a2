"""Request and response bodies (pydantic). No ORM import: routes convert rows explicitly."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from lipcore import catalog

#: An experiment config: a mapping checked by lipcore's validator, published as the JSON Schema
#: `ExperimentConfig` (server.api.openapi adds the component).
Config = Annotated[dict[str, Any], WithJsonSchema({"type": "object", "x-experiment-config": True})]
#: Request bodies take JSON types as they are: no `false` read as 0, no "1" read as 1.
STRICT = ConfigDict(strict=True, extra="forbid")
ProbeName = Literal[tuple(catalog.PROBES)]  # type: ignore[valid-type]


class RunCreate(BaseModel):
    model_config = STRICT
    name: str | None = Field(None, max_length=200)
    config: Config = Field(description="the experiment; required (no default experiment)")


class RunCreated(BaseModel):
    id: int
    status: str


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sweep_id: int | None
    name: str
    status: str
    config: Config
    overrides: dict[str, Any] = {}
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    summary: dict[str, Any]
    attempts: int = 0
    worker: str | None = None
    pack_id: int | None = Field(None, description="the pack this run trained in with other "
                                                  "members of its sweep; null when alone")
    tags: list[str] = []
    note: str = ""


class RunsPublic(BaseModel):
    items: list[RunPublic]
    total: int = Field(description="matching runs; exact unless `estimated`")
    estimated: bool = Field(False, description=(
        "true when more runs match than an exact count is kept for (server.api.routes.runs."
        "EXACT_TOTAL): `total` is then PostgreSQL's row estimate (unfiltered listings) or a lower "
        "bound, and always exceeds offset + limit, so paging on until an empty page never stops early"))


class RandomSpec(BaseModel):
    model_config = STRICT
    samples: int = Field(ge=1)
    seed: int = 0
    grid: bool = Field(False, description="lists and zip groups form a grid; each cell gets "
                                          "`samples` random draws")


class SweepCreate(BaseModel):
    model_config = STRICT
    name: str | None = Field(None, max_length=200)
    config: Config = Field(description="the base experiment the params vary; required")
    params: dict[str, Any] = Field(default_factory=dict)
    zip: list[list[str]] | None = None
    random: RandomSpec | None = None
    overwrite: bool = False
    fail_fast: bool = Field(False, description="cancel the other members when one fails or diverges")


class SweepCreated(BaseModel):
    id: int
    n_runs: int
    run_ids: list[int]
    queued: int = 0  # members sent to the workers by this submission
    reused: int = 0  # members that already succeeded (or are queued/running) and were kept


class SweepPublic(BaseModel):
    id: int
    name: str
    n_runs: int
    counts: dict[str, int]
    fail_fast: bool = False
    created_at: datetime | None = None
    params: dict[str, Any] = {}


class SweepsPublic(BaseModel):
    items: list[SweepPublic]
    total: int


class Accepted(BaseModel):
    """202 answer of cancel/retry: the ids affected and their status now."""

    ids: list[int]
    status: dict[str, int]


class ValidateRequest(BaseModel):
    model_config = STRICT
    # Any mapping: the answer lists its issues (200), so no config is refused here.
    config: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    zip: list[list[str]] | None = None
    random: RandomSpec | None = None


class IssuePublic(BaseModel):
    key: str
    message: str


class ValidateResult(BaseModel):
    valid: bool
    issues: list[IssuePublic]
    n_runs: int | None = None
    config: Config | None = None


class ProbeRequest(BaseModel):
    model_config = STRICT
    probes: list[ProbeName] = Field(min_length=1, max_length=50)
    params: dict[str, Any] = Field(default_factory=dict)


class ProbeJobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    probes: list[str]
    params: dict[str, Any]
    status: str
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ProbesPublic(BaseModel):
    jobs: list[ProbeJobPublic]
    results: dict[str, Any]


class ArtifactPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    name: str
    kind: str
    created_at: datetime


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    broker: str
    workers: list[dict[str, Any]]
    queues: dict[str, int | None] = {}
    runs: dict[str, int] = {}
    dashboard_url: str | None = None  # the dashboard this deployment serves (LIPLAB_DASHBOARD_URL)
