"""`liplab report SWEEP_ID`: fetch a sweep's runs, metrics and probe results over the REST API
and write the Markdown study reports (`lipcore.report.write_report`).

Resumable: a finished run's record and metrics are cached in `<out>/data/run_<id>.json` and
read from there on the next call while the sweep's listing shows the run with the same status
and finish time (a retried run is fetched again); probe results are always fetched, since a
probe job can add or replace them on a finished run at any time. Figures are redrawn only when
their inputs changed (`lipcore.report`). Probe results come from
`GET /runs/{id}/probes` (`{"jobs", "results": {probe: result}}`; a bare {probe: result} or
{"items": [{"name", "result"}]} also work); a server without that route (404) gives a report
without landscape figures, and unreadable results (`{"error": …}`) are left out.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from liplab.client import Client, ClientError, Unreachable

TERMINAL = {"succeeded", "failed", "diverged", "cancelled"}
PAGE = 500


def as_client(client: Client | httpx.Client | None, api_url: str | None = None,
              token: str | None = None) -> Client:
    """A `Client`, wrapping a bare httpx client (base URL = the server root) when given one."""
    if isinstance(client, Client):
        return client
    if isinstance(client, httpx.Client):
        return Client(str(client.base_url), http=client)
    return Client(api_url, token)


def _probes(client: Client, run_id: Any) -> dict:
    body = client.probes(run_id)
    if isinstance(body, dict) and isinstance(body.get("results"), dict):  # the server's shape
        body = body["results"]
    elif isinstance(body, dict) and isinstance(body.get("items"), list):
        body = {i["name"]: i["result"] for i in body["items"] if i.get("result") is not None}
    return {k: v for k, v in body.items() if isinstance(v, dict) and "error" not in v}


def fetch_run(client: Client | httpx.Client, run_id: Any, cache: Path, listed: dict | None = None) -> dict:
    """One run's record, metrics and probe results. The record and metrics come from the cache
    when the run had finished and `listed` (its row in the sweep's listing) still shows the
    same status and finish time; probe results are fetched every time (a probe job may finish
    after the run)."""
    client = as_client(client)
    path = cache / f"run_{run_id}.json"
    record = json.loads(path.read_text()) if path.exists() else None
    listed = listed or {}
    if record is not None and any(k in listed and listed[k] != record.get(k)
                                  for k in ("status", "finished_at")):
        record = None  # retried or re-finished since it was cached
    if record is None:
        run = client.run(run_id)
        record = {"id": run["id"], "name": run.get("name"), "status": run.get("status"),
                  "config": run.get("config") or {}, "error": run.get("error"),
                  "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
                  "summary": run.get("summary") or {},
                  "metrics": client.metrics(run_id, max_points=2000) or {}}
        if record["status"] in TERMINAL:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record))
            os.replace(tmp, path)
    return {**record, "probes": _probes(client, run_id)}


def fetch_sweep(client: Client | httpx.Client, sweep_id: Any, cache: Path) -> tuple[dict, list[dict]]:
    """The sweep and every member's record (see `fetch_run`)."""
    client = as_client(client)
    sweep = client.sweep(sweep_id)
    listed = client.runs(sweep_id=sweep_id, order_by="id")
    return sweep, [fetch_run(client, item["id"], cache, item) for item in listed]


def report(sweep_id: str, out: str | None = None, api_url: str | None = None,
           token: str | None = None, client: Client | httpx.Client | None = None) -> int:
    """Write the report of `sweep_id` under `out` (default reports/sweep_<id>); exit code."""
    from lipcore.report import write_report

    own_client = client is None
    client = as_client(client, api_url, token)
    out_dir = Path(out or f"reports/sweep_{sweep_id}")
    try:
        sweep, runs = fetch_sweep(client, sweep_id, out_dir / "data")
        result = write_report(runs, out_dir, title=f"Sweep {sweep.get('name') or sweep_id}")
    except (ValueError, ClientError) as e:
        print(f"liplab report: {e}", file=sys.stderr)
        return 3 if isinstance(e, Unreachable) else 2
    finally:
        if own_client:  # a client passed in stays the caller's to close
            client.close()
    print(f"report in {out_dir / 'summary.md'} ({len(result['written'])} files written, "
          f"{len(result['kept'])} already there)")
    return 0
