"""The FastAPI app factory: `create_app(settings)` wires the store, the queue and the routes."""
from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from server.api import openapi
from server.api.routes import artifacts, compare, events, health, notes, runs, schema, sweeps, validate
from server.db import make_engine, make_sessionmaker
from server.limits import BodyLimit
from server.methods import AllowedMethods
from server.queue import Queue
from server.settings import Settings, get_settings
from server.store_wait import StoreWait, unavailable_503

DESCRIPTION = """Runs, sweeps, metrics, probes and live events of liplab experiments.

When `LIPLAB_API_TOKEN` is set, every request needs `Authorization: Bearer <token>` (reads
can be opened again with `LIPLAB_READS_NEED_TOKEN=false`); the `bearer` security scheme appears
only then. Browsers may call the API from other origins only when `LIPLAB_CORS_ORIGINS` names
them. Invalid
configs and sweep specs are 422 with the dotted key in `detail[].loc`; unknown ids 404; an
action the run's state forbids 409; bodies over `LIPLAB_MAX_BODY_BYTES` 413. Timestamps are
UTC with an explicit offset. The config's JSON Schema: `GET /api/v1/schema/config.json`.
While the database is unavailable, reads wait for it up to `LIPLAB_STORE_WAIT_S`, then every
route answers 503 with `Retry-After`."""


def create_app(settings: Settings | None = None, queue: Queue | None = None) -> FastAPI:
    """An API bound to `settings.db_url`; no engine is created at import time."""
    settings = settings or get_settings()
    app = FastAPI(title="liplab", version="0.2.0", description=DESCRIPTION)
    engine = make_engine(settings.db_url, settings.db_pool_timeout_s)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.queue = queue or Queue(settings)
    api = APIRouter(prefix="/api/v1")
    for module in (runs, notes, sweeps, artifacts, events, compare, validate, health, schema):
        api.include_router(module.router)
    app.include_router(api)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AllowedMethods, document=lambda: app.openapi())
    openapi.install(app)
    app.add_middleware(StoreWait, wait_s=settings.store_wait_s)
    app.add_exception_handler(OperationalError, unavailable_503)
    app.add_exception_handler(InterfaceError, unavailable_503)
    if settings.cors_origin_list:  # closed by default: no Access-Control-Allow-Origin at all
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        """A value the database cannot hold (NUL byte, out-of-range number) is the client's 422."""
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": ["body"], "msg": f"value cannot be stored: {str(exc.orig).splitlines()[0]}",
             "type": "value_error"}]})

    return app
