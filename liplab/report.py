"""`liplab report SWEEP_ID`: fetch a sweep's runs, metrics and probe results over the REST API
and write the Markdown study reports (`lipcore.report.write_report`).

Resumable: every finished run's data is cached in `<out>/data/run_<id>.json` and read from
there on the next call; figures already drawn are kept. Probe results come from
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

TERMINAL = {"succeeded", "failed", "diverged", "cancelled"}
PAGE = 500


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(f"/api/v1{path}", params=params or None)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()


def _probes(client: httpx.Client, run_id: Any) -> dict:
    body = _get(client, f"/runs/{run_id}/probes")
    if not body:
        return {}
    if isinstance(body, dict) and isinstance(body.get("results"), dict):  # the server's shape
        body = body["results"]
    elif isinstance(body, dict) and isinstance(body.get("items"), list):
        body = {i["name"]: i["result"] for i in body["items"] if i.get("result") is not None}
    return {k: v for k, v in body.items() if isinstance(v, dict) and "error" not in v}


def fetch_run(client: httpx.Client, run_id: Any, cache: Path) -> dict:
    """One run's record, metrics and probe results, from the cache when it has finished."""
    path = cache / f"run_{run_id}.json"
    if path.exists():
        return json.loads(path.read_text())
    run = _get(client, f"/runs/{run_id}")
    if run is None:
        raise ValueError(f"run {run_id}: not found")
    record = {"id": run["id"], "name": run.get("name"), "status": run.get("status"),
              "config": run.get("config") or {}, "error": run.get("error"),
              "started_at": run.get("started_at"), "finished_at": run.get("finished_at"),
              "summary": run.get("summary") or {},
              "metrics": _get(client, f"/runs/{run_id}/metrics", max_points=2000) or {},
              "probes": _probes(client, run_id)}
    if record["status"] in TERMINAL:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    return record


def fetch_sweep(client: httpx.Client, sweep_id: Any, cache: Path) -> tuple[dict, list[dict]]:
    sweep = _get(client, f"/sweeps/{sweep_id}")
    if sweep is None:
        raise ValueError(f"sweep {sweep_id}: not found")
    ids, offset = [], 0
    while True:
        page = _get(client, "/runs", sweep_id=sweep_id, limit=PAGE, offset=offset) or {}
        items = page.get("items", [])
        ids += [i["id"] for i in items]
        offset += len(items)
        if not items or offset >= page.get("total", 0):
            break
    return sweep, [fetch_run(client, i, cache) for i in ids]


def report(sweep_id: str, out: str | None = None, api_url: str | None = None,
           token: str | None = None, client: httpx.Client | None = None) -> int:
    """Write the report of `sweep_id` under `out` (default reports/sweep_<id>); exit code."""
    from lipcore.report import write_report

    api_url = api_url or os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000")
    token = token if token is not None else os.environ.get("LIPLAB_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = client or httpx.Client(base_url=api_url, headers=headers, timeout=60)
    out_dir = Path(out or f"reports/sweep_{sweep_id}")
    try:
        sweep, runs = fetch_sweep(client, sweep_id, out_dir / "data")
        result = write_report(runs, out_dir, title=f"Sweep {sweep.get('name') or sweep_id}")
    except (ValueError, httpx.HTTPError) as e:
        print(f"liplab report: {e}", file=sys.stderr)
        return 2
    print(f"report in {out_dir / 'summary.md'} ({len(result['written'])} files written, "
          f"{len(result['kept'])} already there)")
    return 0
