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


def epochs_done(run: dict) -> float:
    """The share of its epochs a running run has evaluated, below 1 (its last `epoch` point over
    `training.epochs`); 0 before its first evaluation."""
    epochs = ((run.get("config") or {}).get("training") or {}).get("epochs")
    last = ((run.get("summary") or {}).get("epoch") or {}).get("last")
    return min(max(last / epochs, 0.0), 0.99) if epochs and last is not None else 0.0


def progress_bar(total: int, metric: str = "train_loss", higher_is_better: bool = False
                 ) -> tuple[Callable[[list[dict]], None], Any]:
    """A `Client.wait` progress callback drawing finished runs plus the share of their epochs
    that running runs have done (a pack's members all finish together: counting finished runs
    alone would sit at 0 until its end), failed and diverged counted apart, and the best
    `metric` so far (summary min, or max when `higher_is_better`); and the tqdm bar to close."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="run", bar_format="{l_bar}{bar}| {n:.5g}/{total} [{elapsed}<{remaining}{postfix}]")
    pick = max if higher_is_better else min

    def update(runs: list[dict]) -> None:
        done = [r for r in runs if r["status"] in FINISHED]
        running = [r for r in runs if r["status"] == "running"]
        values = [(r["summary"].get(metric) or {}).get("max" if higher_is_better else "min")
                  for r in done]
        values = [v for v in values if v is not None]
        statuses = [r["status"] for r in done]
        bar.update(len(done) + sum(map(epochs_done, running)) - bar.n)
        bar.set_postfix({"running": len(running), "failed": statuses.count("failed"),
                         "diverged": statuses.count("diverged"),
                         f"best_{metric}": pick(values) if values else None})

    return update, bar


def wait_for(answer: dict[str, Any] | list[int], *, client: Client | None = None, api_url: str | None = None,
             headers: dict[str, str] | None = None, poll_s: float = 1.0, metric: str = "train_loss",
             higher_is_better: bool = False, ok: tuple[str, ...] = ("succeeded",),
             prog: str = "liplab submit") -> int:
    """Show progress until every run of `submit`'s answer (or of a list of run ids) ends; 1 if any
    ended outside `ok`, else 0 (3 when the API went away). Without `client`, one is made from
    `api_url` and `headers`."""
    token = (headers or {}).get("Authorization", "").removeprefix("Bearer ") or None
    client = client or Client(api_url, token)
    if isinstance(answer, list):  # run ids: a sweep's when the first run belongs to one
        sweep_id = client.run(answer[0]).get("sweep_id")
        answer = {"id": sweep_id, "run_ids": answer} if sweep_id is not None else {"id": answer[0]}
    update, bar = progress_bar(len(submitted_ids(answer)), metric, higher_is_better)
    try:
        runs = client.wait(answer, poll_s=poll_s, progress=update)
    except ClientError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 3
    finally:
        bar.close()
    return 1 if any(r["status"] not in ok for r in runs) else 0
