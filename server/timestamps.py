"""Timestamps as UTC instants with an explicit offset, on SQLite and PostgreSQL alike.

PostgreSQL keeps them as `timestamptz`. SQLite has no datetime type: a value is text, compared
as text in SQL (reaping by heartbeat, ordering by `created_at`), so every value must be written
in one fixed-width form, `YYYY-MM-DD HH:MM:SS.ffffff+00:00`. `UTCDateTime` converts any aware
datetime to UTC before it is bound, refuses naive ones (their zone is unknown), and reads every
value back as an aware UTC datetime, so the API serialises `…+00:00`, never a zone-less time.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

#: How SQLite holds a timestamp: UTC, microseconds always written, offset always written.
SQLITE_FORMAT = ("%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
                 ".%(microsecond)06d+00:00")
# Also reads the older zone-less rows (written before the offset was stored) as UTC.
_SQLITE_READ = re.compile(r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?(?:Z|[+-]00:?00)?$")


def as_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def sqlite_text(value: datetime) -> str:
    """The stored SQLite text of an instant (see SQLITE_FORMAT)."""
    v = as_utc(value)
    return SQLITE_FORMAT % {"year": v.year, "month": v.month, "day": v.day, "hour": v.hour,
                            "minute": v.minute, "second": v.second, "microsecond": v.microsecond}


class UTCDateTime(TypeDecorator):
    """A timezone-aware column whose values always come back in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(storage_format=SQLITE_FORMAT,
                                                           regexp=_SQLITE_READ))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes (server.models.utcnow)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)
