"""`liplab submit`: a config plus overrides sent to the API as one run or a sweep."""
from __future__ import annotations

import sys
import time
from typing import Any

import httpx

from lipcore.config import ConfigError, Issue, apply_overrides, load_config
from lipcore.sweep import SweepError, parse_spec


def split_overrides(overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """Single values stay overrides; lists, ranges and random functions become sweep params."""
    fixed, swept = [], {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError([Issue(item, "an override is key=value, e.g. training.lr=0.01")])
        kind, spec = parse_spec(key, value)
        if kind == "random" or len(spec) > 1:
            swept[key] = value
        else:
            fixed.append(item)
    return fixed, swept


def explain(response: httpx.Response) -> str:
    """The API's error as lines naming each offending key."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text
    if isinstance(detail, list):
        lines = []
        for d in detail:
            loc = [str(p) for p in d.get("loc", []) if p != "body"]
            if loc[:1] in (["config"], ["params"]):
                loc = loc[1:]
            lines.append(f"  {'.'.join(loc)}: {d.get('msg')}")
        return "\n".join(lines)
    return str(detail)


def post(api_url: str, path: str, body: dict[str, Any], headers: dict[str, str],
         prog: str) -> dict[str, Any] | int:
    """The API's answer to `POST path`, or an exit code after printing why it failed
    (3: the API cannot be reached; 2: it refused the request, each offending key named)."""
    try:
        r = httpx.post(f"{api_url}/api/v1{path}", json=body, headers=headers, timeout=60)
    except httpx.HTTPError as e:
        print(f"{prog}: cannot reach the API at {api_url} ({e}); is `liplab up` running? "
              "(set LIPLAB_URL)", file=sys.stderr)
        return 3
    if r.status_code >= 400:
        print(f"{prog}: rejected ({r.status_code}):\n{explain(r)}", file=sys.stderr)
        return 2
    return r.json()


def submit(config_path: str, overrides: list[str], *, api_url: str, token: str | None,
           name: str | None = None, zip_groups: list[str] | None = None, random_n: int | None = None,
           random_seed: int = 0, overwrite: bool = False, fail_fast: bool = False, wait: bool = False,
           dashboard_url: str = "http://127.0.0.1:8050") -> int:
    try:
        fixed, swept = split_overrides(overrides)
        config = apply_overrides(load_config(config_path), fixed)
    except (ConfigError, SweepError, FileNotFoundError) as e:
        print(f"liplab submit: {e}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"name": name, "config": config}
    if swept or random_n:
        body |= {"params": swept, "overwrite": overwrite, "fail_fast": fail_fast}
        if zip_groups:
            body["zip"] = [g.split(",") for g in zip_groups]
        if random_n:
            body["random"] = {"samples": random_n, "seed": random_seed}
        path = "/sweeps"
    else:
        path = "/runs"
    data = post(api_url, path, body, headers, "liplab submit")
    if isinstance(data, int):
        return data
    if path == "/sweeps":
        reused = f" ({data['reused']} already done or in flight, {data['queued']} queued)" \
            if data.get("reused") else ""
        print(f"sweep {data['id']}: {data['n_runs']} runs{reused}  {dashboard_url}/sweeps/{data['id']}")
        run_ids = data["run_ids"]
    else:
        print(f"run {data['id']}: {data['status']}  {dashboard_url}/runs/{data['id']}")
        run_ids = [data["id"]]
    if wait:
        return wait_for(run_ids, api_url=api_url, headers=headers)
    return 0


FINISHED = ("succeeded", "failed", "diverged", "cancelled")


def wait_for(run_ids: list[int], *, api_url: str, headers: dict[str, str], poll_s: float = 1.0,
             metric: str = "train_loss", higher_is_better: bool = False,
             ok: tuple[str, ...] = ("succeeded",)) -> int:
    """A progress bar of finished runs (failed and diverged counted apart) with the best
    `metric` so far (summary min, or max when `higher_is_better`).

    Polls `GET /runs?sweep_id=` a page at a time for a sweep (one request per 1,000 runs), or the
    single run. Returns 1 if any run ended outside `ok`, else 0.
    """
    from tqdm.auto import tqdm

    api = f"{api_url}/api/v1"
    first = httpx.get(f"{api}/runs/{run_ids[0]}", headers=headers, timeout=30).json()
    sweep_id, wanted = first.get("sweep_id"), set(run_ids)
    done: dict[int, str] = {}
    best = None
    with tqdm(total=len(run_ids), unit="run") as bar:
        while len(done) < len(wanted):
            if sweep_id is None:
                runs = [httpx.get(f"{api}/runs/{run_ids[0]}", headers=headers, timeout=30).json()]
            else:
                runs, offset = [], 0
                while True:
                    page = httpx.get(f"{api}/runs", headers=headers, timeout=30, params={
                        "sweep_id": sweep_id, "limit": 1000, "offset": offset, "order_by": "id"}).json()
                    runs += page["items"]
                    offset += 1000
                    if offset >= page["total"]:
                        break
            for run in runs:
                if run["id"] in wanted and run["id"] not in done and run["status"] in FINISHED:
                    done[run["id"]] = run["status"]
                    value = (run["summary"].get(metric) or {}).get(
                        "max" if higher_is_better else "min")
                    if value is not None and (best is None or (value > best if higher_is_better
                                                               else value < best)):
                        best = value
                    bar.update(1)
                    statuses = list(done.values())
                    bar.set_postfix({"failed": statuses.count("failed"),
                                     "diverged": statuses.count("diverged"),
                                     f"best_{metric}": best})
            if len(done) < len(wanted):
                time.sleep(poll_s)
    return 1 if any(s not in ok for s in done.values()) else 0
