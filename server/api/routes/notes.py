"""PATCH /runs/{id}: the researcher's tags and note on a run (searched with where=, see
server.run_filters)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from server.api.deps import IdPath, SessionDep, WriteAuth
from server.api.routes.runs import get_run_or_404
from server.run_filters import TAG
from server.schemas import RunPublic

router = APIRouter(prefix="/runs", tags=["runs"])


Tag = Annotated[str, Field(pattern=TAG.pattern)]


class RunNotes(BaseModel):
    """Fields left out keep their value; `tags` replaces the whole list (order kept, repeats dropped)."""

    tags: list[Tag] | None = Field(None, max_length=50, description="labels, 1-64 of A-Z a-z 0-9 _ . : + = / -")
    note: str | None = Field(None, max_length=20_000, description="free text")

    @field_validator("tags")
    @classmethod
    def _once_each(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))


@router.patch("/{run_id}", response_model=RunPublic, dependencies=[WriteAuth])
def edit_notes(run_id: IdPath, body: RunNotes, db: SessionDep) -> RunPublic:
    """Set a run's tags and/or note."""
    run = get_run_or_404(db, run_id)
    if body.tags is not None:
        run.tags = body.tags
    if body.note is not None:
        run.note = body.note
    db.commit()
    return RunPublic.model_validate(run)
