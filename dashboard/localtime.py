"""Timestamps in the viewer's time zone.

The API sends UTC instants with an offset. The browser knows the viewer's zone
(`Intl.DateTimeFormat().resolvedOptions().timeZone`); a clientside callback puts it into the
`viewer-tz` store of the app layout, and pages format times with `local_time`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STORE_ID = "viewer-tz"
#: Runs in the browser on page load: the viewer's IANA zone, e.g. "Europe/Berlin".
READ_ZONE_JS = "function(_) { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; }"


def zone(name: str | None) -> timezone | ZoneInfo:
    try:
        return ZoneInfo(name) if name else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def local_time(stamp: str | None, tz: str | None) -> str:
    """'2026-12-04T12:52:10.39+00:00' in zone `tz` as '2026-12-04 13:52:10 CET' ('' for None)."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # a server that predates zoned timestamps sent UTC without saying so
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")
