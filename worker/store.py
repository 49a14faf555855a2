"""The worker's lazily created DB session factory and event bus (one of each per worker process)."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from server.db import make_engine, make_sessionmaker
from server.events import EventBus
from server.settings import get_settings


@lru_cache
def sessions() -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(get_settings().db_url))


@lru_cache
def bus() -> EventBus:
    return EventBus(get_settings())
