"""`liplab submit`: a config plus overrides sent to the API as one run or a sweep, through `Client`."""
from __future__ import annotations

import sys
from typing import Any, Callable

from lipcore.config import ConfigError
from lipcore.sweep import SweepError, split_overrides
from liplab.client import FINISHED, Client, ClientError, Unreachable, explain, submitted_ids

__all__ = ["FINISHED", "explain", "progress_bar", "split_overrides", "submit", "wait_for"]


def submit(config_path: str, overrides: list[str], *, api_url: str | None = None, token: str | None = None,
           name: str | None = None, zip_groups: list[str] | None = None, random_n: int | None = None,
           random_seed: int = 0, overwrite: bool = False, fail_fast: bool = False, wait: bool = False,
           dashboard_url: str | None = None, client: Client | None = None) -> int:
    """Submit and print the id, size and dashboard link; exit code (2 refused, 3 unreachable,
    with `wait` 1 when a run did not succeed)."""
    client = client or Client(api_url, token)
    try:
        answer = client.submit(config_path, overrides, name=name, zip=zip_groups, overwrite=overwrite,
                               fail_fast=fail_fast,
                               random={"samples": random_n, "seed": random_seed} if random_n else None)
        dashboard = dashboard_url or client.dashboard_url()
    except (ConfigError, SweepError, FileNotFoundError, ClientError) as e:
        print(f"liplab submit: {e}", file=sys.stderr)
        return 3 if isinstance(e, Unreachable) else 2
    if answer["kind"] == "sweep":
        reused = f" ({answer['reused']} already done or in flight, {answer['queued']} queued)" \
            if answer.get("reused") else ""
        print(f"sweep {answer['id']}: {answer['n_runs']} runs{reused}  {dashboard}/sweeps/{answer['id']}")
    else:
        print(f"run {answer['id']}: {answer['status']}  {dashboard}/runs/{answer['id']}")
    if wait:
        return wait_for(answer, client=client)
    return 0


def progress_bar(total: int, metric: str = "train_loss") -> tuple[Callable[[list[dict]], None], Any]:
    """A `Client.wait` progress callback drawing finished runs and the best `metric` (summary
    min) so far, and the tqdm bar to close."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="run")

    def update(runs: list[dict]) -> None:
        done = [r for r in runs if r["status"] in FINISHED]
        values = [(r["summary"].get(metric) or {}).get("min") for r in done]
        values = [v for v in values if v is not None]
        bar.update(len(done) - bar.n)
        bar.set_postfix({f"best_{metric}": min(values) if values else None,
                         "failed": sum(r["status"] != "succeeded" for r in done)})

    return update, bar


def wait_for(answer: dict[str, Any] | list[int], *, client: Client | None = None, api_url: str | None = None,
             headers: dict[str, str] | None = None, poll_s: float = 1.0, metric: str = "train_loss") -> int:
    """Show progress until every run of `submit`'s answer (or of a list of run ids) ends; 1 if any
    did not succeed, else 0. Without `client`, one is made from `api_url` and `headers`."""
    token = (headers or {}).get("Authorization", "").removeprefix("Bearer ") or None
    client = client or Client(api_url, token)
    if isinstance(answer, list):  # run ids: a sweep's when the first run belongs to one
        sweep_id = client.run(answer[0]).get("sweep_id")
        answer = {"id": sweep_id, "run_ids": answer} if sweep_id is not None else {"id": answer[0]}
    update, bar = progress_bar(len(submitted_ids(answer)), metric)
    try:
        runs = client.wait(answer, poll_s=poll_s, progress=update)
    except ClientError as e:
        print(f"liplab submit: {e}", file=sys.stderr)
        return 3
    finally:
        bar.close()
    return 1 if any(r["status"] != "succeeded" for r in runs) else 0
