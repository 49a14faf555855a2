"""`Client`: the REST API of a running liplab from Python, for notebooks, the CLI and reports.

    from liplab.client import Client
    lab = Client("http://127.0.0.1:8000")          # or LIPLAB_URL / LIPLAB_TOKEN from the environment
    sweep = lab.submit("configs/quickstart.yaml", ["training.lr=0.001,0.01"])
    lab.wait(sweep)
    runs, history = lab.load_sweep(sweep["id"])     # pandas: one row per run · long-form metrics

Torch-free (it reads configs with `lipcore.config` only) and pandas-free until a `load_*`
method is called. Every failure is a `ClientError` whose message can be shown as it is: an
unreachable API says how to start one, a rejected request names each offending field.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import httpx

from liplab.refs import Ref, parse_ref

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = ("succeeded", "failed", "diverged", "cancelled")
PAGE = 1000  # the API's largest page of runs


class ClientError(RuntimeError):
    """A request that did not succeed; `status` is the HTTP status (None when unreachable)."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None):
        super().__init__(message)
        self.status, self.detail = status, detail


class Unreachable(ClientError):
    """No API answers at the client's URL."""


def explain(response: httpx.Response) -> str:
    """An error answer as lines naming each offending field (`training.lr: …`)."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(detail, list):
        lines = []
        for d in detail:
            loc = [str(p) for p in d.get("loc", []) if p != "body"]
            if loc[:1] in (["config"], ["params"], ["query"]):
                loc = loc[1:]
            lines.append(f"  {'.'.join(loc) or 'request'}: {d.get('msg')}")
        return "\n".join(lines)
    return str(detail)


@dataclass
class Loaded:
    """A run's or sweep's data as pandas frames; unpacks as `runs, history = ...`.

    `runs`: one row per run: id, name, status, sweep_id, attempts, worker, each config key as a
    dotted column (`training.lr`), and per logged metric its last value (`train_loss`), `.min`
    and `.max`. `history`: one row per logged point: run_id, key, step, value.
    """

    runs: Any
    history: Any

    def __iter__(self) -> Iterator[Any]:
        return iter((self.runs, self.history))


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'training': {'lr': 0.1}} → {'training.lr': 0.1}; lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run as a flat table row (see `Loaded`)."""
    row = {k: run.get(k) for k in ("id", "name", "status", "sweep_id", "attempts", "worker",
                                   "created_at", "finished_at")}
    row |= {k: v for k, v in flatten(run.get("config") or {}).items() if k not in row}
    for key, stats in (run.get("summary") or {}).items():
        row[key] = stats.get("last")
        row[f"{key}.min"], row[f"{key}.max"] = stats.get("min"), stats.get("max")
    return row


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ClientError("data frames need pandas: pip install pandas") from None
    return pandas


class Client:
    """One liplab API. `url` defaults to LIPLAB_URL (else http://127.0.0.1:8000), `token` to
    LIPLAB_TOKEN; `http` may be a ready `httpx.Client` (its base URL is the server root)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0,
                 http: httpx.Client | None = None):
        self.url = (url or os.environ.get("LIPLAB_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("LIPLAB_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = http or httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer of `/api/v1{path}` as it is, whatever its status; `Unreachable` when none."""
        try:
            return self.http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as e:
            raise Unreachable(
                f"cannot reach the liplab API at {self.url} ({type(e).__name__}: {e}). Start one with "
                f"`liplab up`, or point LIPLAB_URL (the dashboard: --api-url) at a running API.") from None

    def request(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """The JSON answer of `/api/v1{path}`; ClientError for any failure (None for a 404
        when `missing_ok`)."""
        r = self.send(method, path, **kwargs)
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code == 404:
            kind, _, rest = path.strip("/").partition("/")
            what = f"{kind.removesuffix('s')} {rest.partition('/')[0]}" if rest else path
            raise ClientError(f"{what}: not found", status=404, detail=r.text)
        if r.status_code >= 400:
            hint = "\n(set LIPLAB_TOKEN to the API's token)" if r.status_code == 401 else ""
            raise ClientError(f"{method} {path} was refused ({r.status_code}):\n{explain(r)}{hint}",
                              status=r.status_code, detail=r.text)
        return r.json()

    # --- reading -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def dashboard_url(self) -> str:
        """The dashboard the running system serves (the API's LIPLAB_DASHBOARD_URL)."""
        return (self.health().get("dashboard_url") or "http://127.0.0.1:8050").rstrip("/")

    def run(self, run_id: int) -> dict[str, Any]:
        return self.request("GET", f"/runs/{int(run_id)}")

    def sweep(self, sweep_id: int) -> dict[str, Any]:
        return self.request("GET", f"/sweeps/{int(sweep_id)}")

    def sweeps(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest sweeps first."""
        return self.request("GET", "/sweeps", params={"limit": limit})["items"]

    def runs(self, where: str | Iterable[str] = (), order_by: str = "-id", *, sweep_id: int | None = None,
             status: str | None = None, order_stat: str = "last", limit: int | None = None) -> list[dict]:
        """Runs matching every `where` filter (`"model.layer==aol"`, `"training.lr<0.01"`), in
        `order_by` order (a column or a metric; `-` for descending), at most `limit` (all if None)."""
        params: dict[str, Any] = {"where": [where] if isinstance(where, str) else list(where),
                                  "order_by": order_by, "order_stat": order_stat}
        if sweep_id is not None:
            params["sweep_id"] = int(sweep_id)
        if status is not None:
            params["status"] = status
        out: list[dict] = []
        while limit is None or len(out) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(out))
            page = self.request("GET", "/runs", params=params | {"limit": size, "offset": len(out)})
            out += page["items"]
            if len(page["items"]) < size:
                break
        return out

    def metrics(self, run_id: int, keys: str | Iterable[str] | None = None, *,
                max_points: int | None = None, after: int | None = None) -> dict[str, dict[str, list]]:
        """{key: {"step": [...], "value": [...]}} for the run (all keys when `keys` is None)."""
        params: dict[str, Any] = {}
        if keys:
            params["keys"] = keys if isinstance(keys, str) else ",".join(keys)
        if max_points is not None:
            params["max_points"] = max_points
        if after is not None:
            params["after"] = after
        return self.request("GET", f"/runs/{int(run_id)}/metrics", params=params)

    def probes(self, run_id: int) -> dict[str, Any]:
        """{"jobs": [...], "results": {probe: result}}; empty when the server has no probe route."""
        return self.request("GET", f"/runs/{int(run_id)}/probes", missing_ok=True) or {}

    def run_ids(self, ref: Ref | str | int) -> list[int]:
        """The runs a reference stands for: the run itself, or every member of a sweep."""
        ref = parse_ref(ref)
        if ref.kind == "run":
            return [ref.id]
        return [r["id"] for r in self.runs(sweep_id=ref.id, order_by="id")]

    # --- writing -----------------------------------------------------------------------------
    def submit(self, config: dict[str, Any] | str | Path, overrides: Iterable[str] | dict[str, Any] = (), *,
               name: str | None = None, params: dict[str, Any] | None = None,
               zip: list[list[str]] | None = None, random: dict[str, int] | None = None,  # noqa: A002
               overwrite: bool = False, fail_fast: bool = False) -> dict[str, Any]:
        """Send a run, or a sweep when an override sweeps (`key=a,b`, `a..b..s`, `logfloat(…)`) or
        `params`/`random` are given. `config` is a mapping or a YAML/JSON file; overrides use the
        CLI syntax (`key=value`, `+key=item`, `key=[a, b]`). Returns the API's answer with
        `"kind": "run" | "sweep"`; ClientError (ConfigError locally) naming the key otherwise."""
        from lipcore.config import apply_overrides, load_config
        from lipcore.sweep import split_overrides

        fixed, swept = split_overrides(overrides)
        base = load_config(config) if isinstance(config, (str, Path)) else config
        body: dict[str, Any] = {"name": name, "config": apply_overrides(base, fixed)}
        swept |= params or {}
        if not swept and not random:
            return self.request("POST", "/runs", json=body) | {"kind": "run"}
        body |= {"params": swept, "overwrite": overwrite, "fail_fast": fail_fast}
        if zip:
            body["zip"] = [g.split(",") if isinstance(g, str) else list(g) for g in zip]
        if random:
            body["random"] = random
        return self.request("POST", "/sweeps", json=body) | {"kind": "sweep"}

    def cancel(self, ref: Ref | str | int) -> dict[str, Any]:
        """Cancel a run (`12`, `run:12`) or every unfinished member of a sweep (`sweep:3`)."""
        ref = parse_ref(ref)
        return self.request("POST", f"/{ref.kind}s/{ref.id}/cancel")

    def retry(self, run_id: int) -> dict[str, Any]:
        """Queue a finished run again."""
        return self.request("POST", f"/runs/{int(run_id)}/retry")

    def retry_failed(self, sweep_id: int) -> dict[str, Any]:
        """Queue a sweep's failed, diverged and cancelled members again."""
        return self.request("POST", f"/sweeps/{int(sweep_id)}/retry-failed")

    def wait(self, ref: Ref | str | int | dict, *, poll_s: float = 1.0, timeout: float | None = None,
             progress: Callable[[list[dict]], None] | None = None) -> list[dict]:
        """Block until every run of `ref` (a run, a sweep, or `submit`'s answer) has finished;
        returns the runs. `progress(runs)` is called after each poll with every run's record."""
        if isinstance(ref, dict):
            ids, sweep_id = submitted_ids(ref), (ref["id"] if "run_ids" in ref else None)
        else:
            ref = parse_ref(ref)
            ids, sweep_id = self.run_ids(ref), (ref.id if ref.kind == "sweep" else None)
        wanted = set(ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if sweep_id is None:
                runs = [self.run(i) for i in ids]
            else:
                runs = [r for r in self.runs(sweep_id=sweep_id, order_by="id") if r["id"] in wanted]
            if progress is not None:
                progress(runs)
            if len(runs) == len(wanted) and all(r["status"] in FINISHED for r in runs):
                return runs
            if deadline is not None and time.monotonic() > deadline:
                pending = [r["id"] for r in runs if r["status"] not in FINISHED]
                raise ClientError(f"runs {pending} have not finished after {timeout:g} s")
            time.sleep(poll_s)

    # --- data frames -------------------------------------------------------------------------
    def frames(self, runs: list[dict], keys: str | Iterable[str] | None = None,
               max_points: int | None = None) -> Loaded:
        """`Loaded` frames of these runs, their histories fetched one run at a time."""
        pd = _pandas()
        table = pd.DataFrame([run_row(r) for r in runs])
        points = []
        for r in runs:
            for key, series in self.metrics(r["id"], keys, max_points=max_points).items():
                points += [(r["id"], key, s, v) for s, v in zip(series["step"], series["value"])]
        history = pd.DataFrame(points, columns=["run_id", "key", "step", "value"])
        return Loaded(table, history)

    def load_run(self, run_id: int, keys: str | Iterable[str] | None = None,
                 max_points: int | None = None) -> Loaded:
        """One run as `Loaded` frames (a one-row `runs` and its whole history)."""
        return self.frames([self.run(run_id)], keys, max_points)

    def load_sweep(self, sweep_id: int, keys: str | Iterable[str] | None = None,
                   max_points: int | None = None, history: bool = True) -> Loaded:
        """A sweep's runs (configs flattened to columns + summaries) and, unless
        `history=False`, every run's metric history in long form."""
        self.sweep(sweep_id)  # a clear 404 for an unknown sweep
        runs = self.runs(sweep_id=sweep_id, order_by="id")
        if history:
            return self.frames(runs, keys, max_points)
        pd = _pandas()
        return Loaded(pd.DataFrame([run_row(r) for r in runs]),
                      pd.DataFrame(columns=["run_id", "key", "step", "value"]))


def submitted_ids(answer: dict[str, Any]) -> list[int]:
    """The run ids in `Client.submit`'s answer."""
    return list(answer["run_ids"]) if "run_ids" in answer else [answer["id"]]
