"""`liplab study FILE [--scale N] [--out DIR] [--wait] [key=value ...]`: a study file submitted as
one sweep over the API; with `--wait`, a progress bar until every run has ended, then the
study's report: the sweep report of `liplab report` under `<out>/report/` and the study's own
figures and tables (`sweep.figures`) in `<out>/study.md` and `<out>/figures/`.

Exit codes: 0 when every run succeeded or diverged (a diverged run is a result, with its
reason), 1 when one failed or was cancelled, 2 for a bad file (the key named), 3 when the API
cannot be reached.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from lipcore.config import ConfigError
from lipcore.study import load_study
from lipcore.sweep import SweepError
from liplab.client import Client, ClientError, Unreachable
from liplab.submit import wait_for

OK = ("succeeded", "diverged")


def sweep_name(plan, overrides: list[str], scale: float) -> str:
    """The sweep's name: the study's, plus the scale and overrides when given, so a rescaled or
    narrowed study is its own sweep and never mixes with (or reuses runs of) the default one."""
    parts = [plan.name] + ([f"scale={scale:g}"] if scale != 1 else []) + list(overrides)
    return " ".join(parts)


def write_study_report(client: Client, sweep: dict, plan, out: Path) -> dict:
    """The sweep report and the study figures under `out`, redrawn from scratch; run counts.

    Only the members of this submission (`sweep["run_ids"]`) count: a study file edited and
    submitted again is the same sweep, which still holds the runs of the earlier versions.
    """
    from lipcore.report import write_report
    from lipcore.study_figures import write_study
    from liplab.report import fetch_run

    sweep_id = sweep["id"]
    with tempfile.TemporaryDirectory() as cache:
        runs = [fetch_run(client, i, Path(cache)) for i in sweep["run_ids"]]
    for stale in (out / "figures", out / "report"):
        shutil.rmtree(stale, ignore_errors=True)
    write_report(runs, out / "report", title=f"Sweep {sweep_id}: {plan.name}",
                 landscape_runs=2)
    write_study(runs, plan.figures, out, title=plan.name, sweep_id=sweep_id)
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def study(path: str, overrides: list[str], *, api_url: str | None = None, token: str | None = None,
          scale: float = 1.0, out: str | None = None, wait: bool = False, overwrite: bool = False,
          dashboard_url: str | None = None, poll_s: float = 2.0, client: Client | None = None) -> int:
    try:
        plan = load_study(path, overrides, scale)
    except (ConfigError, SweepError, FileNotFoundError) as e:
        print(f"liplab study: {e}", file=sys.stderr)
        return 2
    own_client = client is None
    client = client or Client(api_url, token)
    try:
        return _submit_and_report(client, plan, overrides, scale=scale, out=out, wait=wait,
                                  overwrite=overwrite, dashboard_url=dashboard_url, poll_s=poll_s)
    except ClientError as e:
        print(f"liplab study: {e}", file=sys.stderr)
        return 3 if isinstance(e, Unreachable) else 2
    finally:
        if own_client:
            client.close()


def _submit_and_report(client: Client, plan, overrides: list[str], *, scale: float, out: str | None,
                       wait: bool, overwrite: bool, dashboard_url: str | None, poll_s: float) -> int:
    body = plan.body(sweep_name(plan, overrides, scale)) | {"overwrite": overwrite}
    data = client.request("POST", "/sweeps", json=body)
    dashboard_url = dashboard_url or client.dashboard_url()
    print(f"study {plan.name}: sweep {data['id']}, {data['n_runs']} runs "
          f"({data.get('queued', data['n_runs'])} queued)  {dashboard_url}/sweeps/{data['id']}",
          flush=True)
    if not wait:
        return 0
    metric, higher = _progress_metric(plan)
    started = time.monotonic()
    code = wait_for(data, client=client, poll_s=poll_s, metric=metric, higher_is_better=higher,
                    ok=OK, prog="liplab study")
    if code == 3:
        return code
    out_dir = Path(out or f"docs/results/{plan.name}")
    counts = write_study_report(client, data, plan, out_dir)
    print(f"study {plan.name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
          + f" in {time.monotonic() - started:.0f} s; report in {out_dir / 'study.md'}")
    return code


def _progress_metric(plan) -> tuple[str, bool]:
    """The metric the progress bar tracks: the first figure's, else the test loss."""
    for spec in plan.figures:
        if "metric" in spec:
            return spec["metric"], bool(spec.get("higher_is_better", "acc" in spec["metric"]))
    return "test_loss", False
