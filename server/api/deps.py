"""Dependencies shared by the routes: a DB session per request, the queue, the settings, auth."""
from __future__ import annotations

import secrets
from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server.api.openapi import READ_SCHEME, WRITE_SCHEME
from server.queue import Queue
from server.settings import Settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_queue(request: Request) -> Queue:
    return request.app.state.queue


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


# Two schemes by name, so the OpenAPI document can tell guarded writes from guarded reads
# (server.api.openapi keeps only the ones the deployment's settings enforce).
_write_bearer = HTTPBearer(auto_error=False, scheme_name=WRITE_SCHEME)
_read_bearer = HTTPBearer(auto_error=False, scheme_name=READ_SCHEME)


def _check_token(settings: Settings, creds: HTTPAuthorizationCredentials | None) -> None:
    if not settings.api_token:
        return
    given = creds.credentials if creds else ""
    if not secrets.compare_digest(given.encode(), settings.api_token.encode()):
        raise HTTPException(401, "a valid bearer token is required (LIPLAB_TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})


# async: a check without I/O, run on the event loop rather than as a hop to a worker thread
# (a sync dependency is one, per request).
async def require_write(request: Request,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_write_bearer)]) -> None:
    _check_token(request.app.state.settings, creds)


async def require_read(request: Request,
                       creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_read_bearer)]) -> None:
    if request.app.state.settings.reads_need_token:
        _check_token(request.app.state.settings, creds)


async def check_read(request: Request) -> None:
    """require_read with its bearer read from the request: the check a plain-query route runs
    without FastAPI solving the dependency (server.api.plain_query)."""
    await require_read(request, await _read_bearer(request))


SessionDep = Annotated[Session, Depends(get_db)]
QueueDep = Annotated[Queue, Depends(get_queue)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
IdPath = Annotated[int, Path(ge=0, le=MAX_ID)]
