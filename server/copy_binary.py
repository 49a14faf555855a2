"""Metric points as PostgreSQL's binary `COPY` data, built by column with numpy.

A batch is (run_id int4, key varchar, step int4, value float8, seq int4) rows. COPY's text
format needs every double formatted by `repr` and every row joined in Python (most of the
reporter's batch time); the binary format takes the doubles' own bytes, big-endian. A row of
the binary format is a tuple: its field count (int16), then per column its byte length
(int32; -1 for NULL, with no data after it) and its data. All rows of one key and one
nullness pattern have the same layout (the key's bytes have one length), so they are one
numpy structured array of shape (n,), filled a field at a time: no Python per row.

NULL: a non-finite value (NaN, ±inf: the store keeps them as NULL) and an unknown seq (rows
of the staged upsert, `seqs` None). COPY's row order does not matter (seq is explicit), so a
key's rows with a NULL value are written after its others.
Format: PostgreSQL's documentation, COPY, "Binary Format".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")  # flags, extension
TRAILER = (-1).to_bytes(2, "big", signed=True)
FIELDS = 5  # run_id, key, step, value, seq
INT4 = np.iinfo(np.int32)


def layout(key_len: int, has_value: bool, has_seq: bool) -> np.dtype:
    """The packed (unaligned) record of one row: a length before every field, data where not NULL."""
    fields = [("n", ">i2"), ("run_len", ">i4"), ("run_id", ">i4"), ("key_len", ">i4")]
    fields += [("key", f"S{key_len}")] if key_len else []
    fields += [("step_len", ">i4"), ("step", ">i4"), ("value_len", ">i4")]
    fields += [("value", ">f8")] if has_value else []
    fields += [("seq_len", ">i4")] + ([("seq", ">i4")] if has_seq else [])
    return np.dtype(fields)


def int4(xs: Sequence[int] | range, what: str) -> np.ndarray:
    """`xs` as int64 of shape (n,), refused (ValueError) where an int4 column cannot hold it."""
    a = np.arange(xs.start, xs.stop, xs.step, dtype=np.int64) if isinstance(xs, range) \
        else np.asarray(xs, dtype=np.int64)
    if a.size and (a.min() < INT4.min or a.max() > INT4.max):
        raise ValueError(f"{what} out of the int4 range: {int(a.min())}…{int(a.max())}")
    return a


def key_rows(run_id: int, key: bytes, steps: np.ndarray, values: np.ndarray | None,
             seqs: np.ndarray | None) -> bytes:
    """The rows of one key with one layout: steps (n,), values (n,) float64 or None (all NULL),
    seqs (n,) or None (all NULL)."""
    rows = np.empty(len(steps), layout(len(key), values is not None, seqs is not None))
    rows["n"], rows["run_len"], rows["run_id"], rows["key_len"] = FIELDS, 4, run_id, len(key)
    if key:
        rows["key"] = key
    rows["step_len"], rows["step"] = 4, steps
    if values is None:
        rows["value_len"] = -1
    else:
        rows["value_len"], rows["value"] = 8, values
    if seqs is None:
        rows["seq_len"] = -1
    else:
        rows["seq_len"], rows["seq"] = 4, seqs
    return rows.tobytes()


def copy_rows(run_id: int, key: str, steps: Sequence[int], values: Sequence[float | None],
              seqs: Sequence[int] | range | None, encoding: str = "utf-8") -> bytes:
    """One key's points as binary COPY rows (no header): `values` may hold None, NaN or ±inf
    (NULL); `seqs` None leaves every seq NULL. Steps and seqs outside int4 raise ValueError."""
    step = int4(steps, "steps")
    seq = None if seqs is None else int4(seqs, "seqs")
    value = np.asarray(values, dtype=np.float64)  # None → NaN
    k = key.encode(encoding)
    finite = np.isfinite(value)
    if finite.all():
        return key_rows(run_id, k, step, value, seq)
    null = ~finite
    return key_rows(run_id, k, step[finite], value[finite], None if seq is None else seq[finite]) \
        + key_rows(run_id, k, step[null], None, None if seq is None else seq[null])


def copy_data(run_id: int, cols: Sequence[tuple[str, Sequence[int], Sequence[float | None], Sequence[int] | None]],
              encoding: str = "utf-8") -> bytes:
    """A whole `COPY … FROM STDIN (FORMAT BINARY)` stream of one run's (key, steps, values, seqs)
    columns: header, rows, trailer."""
    return b"".join([HEADER, *(copy_rows(run_id, key, steps, values, seqs, encoding)
                               for key, steps, values, seqs in cols), TRAILER])
