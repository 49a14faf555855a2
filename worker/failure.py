"""One-line reasons for the failures a user can act on, put before the traceback in `run.error`.

A full artifact disk (ENOSPC, EDQUOT, or EFBIG when a file-size limit is hit) and memory that ran
out (MemoryError, torch's "can't allocate memory") are told apart from bugs. The cause is looked
for along the exception's chain: torch's checkpoint writer reports a failed write as a
RuntimeError raised while handling the OSError that says why.
"""
from __future__ import annotations

import errno
from typing import Iterator

DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def failure_reason(exc: BaseException) -> str | None:
    """"artifact disk full: …", "out of memory: …", or None for any other failure."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return f"artifact disk full: {e}"
        if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e)):
            return f"out of memory: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None
