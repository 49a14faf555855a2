"""Binary COPY data built by column (`server.copy_binary`) against two oracles: a row-by-row
`struct` reading of the format, and (PostgreSQL) psycopg's own text COPY of the same rows."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from server.copy_binary import HEADER, copy_data

INT4_MAX, INT4_MIN = 2**31 - 1, -(2**31)
ODD_VALUES = [0.1, -0.0, 0.0, -1.5, float("nan"), float("inf"), float("-inf"), None, 5e-324,
              -1.7976931348623157e308, 1.7976931348623157e308, 2.0**-1022, -123456.789]
KEYS = ["train_loss", "", "é/ü ключ", "tab\tand\\N\nnewline", "a" * 200]


def columns(seed: int = 0) -> list[tuple]:
    """One run's columns of every kind: the odd values, large and negative steps, seqs as a
    range, as a list and unknown (None)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, key in enumerate(KEYS):
        n = len(ODD_VALUES) + 20
        steps = [INT4_MIN, -1, 0, INT4_MAX] + rng.choice(10**9, n - 4, replace=False).tolist()
        values = ODD_VALUES + rng.normal(scale=10.0 ** rng.integers(-300, 300), size=20).tolist()
        seqs = [range(1000, 1000 + n), list(rng.integers(INT4_MIN, INT4_MAX, n)), None][i % 3]
        out.append((key, steps, values, seqs))
    return out


def expected(run_id: int, cols: list[tuple]) -> list[tuple]:
    """(run_id, key, step, value bits or None, seq) rows, sorted: non-finite values are NULL."""
    rows = []
    for key, steps, values, seqs in cols:
        for i, (step, value) in enumerate(zip(steps, values)):
            finite = value is not None and math.isfinite(value)
            rows.append((run_id, key, int(step), struct.pack(">d", value) if finite else None,
                         None if seqs is None else int(seqs[i])))
    return sorted(rows, key=repr)


def read_rows(data: bytes) -> list[tuple]:
    """The format read field by field (PostgreSQL's documentation, COPY, "Binary Format")."""
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00" and struct.unpack(">ii", data[11:19]) == (0, 0)
    at, rows = 19, []
    while True:
        (n,) = struct.unpack_from(">h", data, at)
        at += 2
        if n == -1:
            assert at == len(data), "bytes after the trailer"
            return sorted(rows, key=repr)
        fields = []
        for _ in range(n):
            (size,) = struct.unpack_from(">i", data, at)
            at += 4
            fields.append(None if size == -1 else data[at:at + size])
            at += max(size, 0)
        run_id, key, step, value, seq = fields
        rows.append((struct.unpack(">i", run_id)[0], key.decode(), struct.unpack(">i", step)[0], value,
                     None if seq is None else struct.unpack(">i", seq)[0]))


def test_rows_read_back_field_by_field_as_the_points():
    cols = columns()
    assert read_rows(copy_data(7, cols)) == expected(7, cols)


def test_an_empty_batch_is_header_and_trailer():
    assert copy_data(1, []) == HEADER + b"\xff\xff"
    assert read_rows(copy_data(1, [("k", [], [], None)])) == []


@pytest.mark.parametrize("what", ["steps", "seqs"])
@pytest.mark.parametrize("bad", [INT4_MAX + 1, INT4_MIN - 1])
def test_steps_and_seqs_past_int4_are_refused(what, bad):
    steps, seqs = ([bad], [0]) if what == "steps" else ([0], [bad])
    with pytest.raises(ValueError, match=what):
        copy_data(1, [("k", steps, [1.0], seqs)])


TABLE = "(run_id integer, key varchar, step integer, value float8, seq integer)"


@pytest.mark.postgres
def test_postgres_stores_what_its_own_text_copy_stores(pg_url):
    """The same rows through psycopg's text COPY (`write_row`, its own formatting) and through
    the binary data: PostgreSQL stores the same rows, doubles bit for bit."""
    import psycopg

    cols = columns(seed=1)
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        for name in ("via_text", "via_binary"):
            cur.execute(f"CREATE TEMPORARY TABLE {name} {TABLE}")
        with cur.copy("COPY via_text FROM STDIN") as copy:
            for key, steps, values, seqs in cols:
                for i, (step, value) in enumerate(zip(steps, values)):
                    finite = value is not None and math.isfinite(value)
                    copy.write_row((9, key, step, value if finite else None,
                                    None if seqs is None else int(seqs[i])))
        with cur.copy("COPY via_binary FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(copy_data(9, cols, conn.info.encoding))
        got = {}
        for name in ("via_text", "via_binary"):
            cur.execute(f"SELECT run_id, key, step, float8send(value), seq FROM {name}")
            got[name] = sorted(((r, k, s, None if v is None else bytes(v), q) for r, k, s, v, q in cur), key=repr)
    assert got["via_binary"] == got["via_text"] == expected(9, cols)
