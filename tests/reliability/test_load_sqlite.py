"""The embedded store under 50 concurrent clients: every filtered, metric-ordered listing is
answered (requests queue for a connection instead of failing with 500).

The API runs with a 1 s pool timeout, so any request that had to wait for a free connection
would fail: the pool must hold a connection for every request thread (with the old 5 + 10 pool
most of these requests answered 500)."""
from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx

from lipcore.config import validate
from tests.reliability.api import ApiProcess
from tests.reliability.tally import record

CLIENTS, PER_CLIENT, RUNS = 50, 3, 10_000
LISTING = "/runs?limit=50&where=model.width==64&where=training.lr<0.01&order_by=train_loss"


def load_runs(path: str, n: int) -> None:
    """`n` finished runs, widths 8..1024 and five learning rates, each with a train_loss summary."""
    base = validate({})
    rows = []
    for i in range(n):
        cfg = {**base, "model": {**base["model"], "width": 8 << (i % 8)},
               "training": {**base["training"], "lr": [1e-4, 1e-3, 1e-2, 3e-2, 1e-1][i // 8 % 5]}}
        loss = (i * 7919 % 100_003) / 100_003
        rows.append((f"r{i}", "succeeded", json.dumps(cfg), "{}", "2026-01-01 00:00:00", 1,
                     json.dumps({"train_loss": {"last": loss, "min": loss, "max": loss, "n": 1, "step": 1}}), 0))
    with sqlite3.connect(path) as c:
        c.executemany("INSERT INTO runs (name, status, config, overrides, created_at, attempts, summary, "
                      "cancel_requested) VALUES (?,?,?,?,?,?,?,?)", rows)


def test_fifty_clients_on_the_embedded_store_all_get_answers(tmp_path):
    api = ApiProcess(tmp_path, LIPLAB_DB_POOL_TIMEOUT_S="1").migrate()
    load_runs(str(tmp_path / "liplab.db"), RUNS)
    expected = sorted(i + 1 for i in range(RUNS) if i % 8 == 3 and i // 8 % 5 < 2)
    with api:
        def client(_: int) -> list[tuple[int, list[int]]]:
            out = []
            with httpx.Client(base_url=api.url, timeout=600) as http:
                for _ in range(PER_CLIENT):
                    try:
                        r = http.get(LISTING)
                    except httpx.TransportError:  # the server dropped the connection
                        out.append((0, []))
                        continue
                    out.append((r.status_code, [run["id"] for run in r.json()["items"]]
                                if r.status_code == 200 else []))
            return out
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [a for batch in pool.map(client, range(CLIENTS)) for a in batch]
    codes = [code for code, _ in answers]
    record("Load", f"SQLite: {CLIENTS} concurrent clients, filtered + metric-ordered listing of "
           f"{RUNS:,} runs", tried=len(answers), five_xx=sum(c >= 500 or c == 0 for c in codes),
           sees="every request answered 200 (they queue for a connection)")
    assert codes == [200] * CLIENTS * PER_CLIENT, sorted(set(codes))
    # the right page, not just a 200: width 64, lr < 0.01, the 50 lowest train_loss
    loss = {i + 1: (i * 7919 % 100_003) / 100_003 for i in range(RUNS)}
    best = sorted(expected, key=lambda i: (loss[i], i))[:50]
    assert all(ids == best for _, ids in answers)
