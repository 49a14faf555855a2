"""The FastAPI app factory: `create_app(settings)` wires the store, the queue and the routes."""
from __future__ import annotations

from fastapi import APIRouter, FastAPI

from server.api.routes import compare, health, runs, sweeps
from server.db import make_engine, make_sessionmaker
from server.queue import Queue
from server.settings import Settings, get_settings


def create_app(settings: Settings | None = None, queue: Queue | None = None) -> FastAPI:
    """An API bound to `settings.db_url`; no engine is created at import time."""
    settings = settings or get_settings()
    app = FastAPI(title="liplab", version="0.1.0",
                  description="Runs, sweeps and metrics of liplab experiments.")
    engine = make_engine(settings.db_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.queue = queue or Queue(settings)
    api = APIRouter(prefix="/api/v1")
    for module in (runs, sweeps, compare, health):
        api.include_router(module.router)
    app.include_router(api)
    return app
