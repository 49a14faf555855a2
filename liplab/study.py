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

import httpx

from lipcore.config import ConfigError
from lipcore.study import load_study
from lipcore.sweep import SweepError
from liplab.submit import post, wait_for

OK = ("succeeded", "diverged")


def sweep_name(plan, overrides: list[str], scale: float) -> str:
    """The sweep's name: the study's, plus the scale and overrides when given, so a rescaled or
    narrowed study is its own sweep and never mixes with (or reuses runs of) the default one."""
    parts = [plan.name] + ([f"scale={scale:g}"] if scale != 1 else []) + list(overrides)
    return " ".join(parts)


def write_study_report(client: httpx.Client, sweep: dict, plan, out: Path) -> dict:
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


def study(path: str, overrides: list[str], *, api_url: str, token: str | None,
          scale: float = 1.0, out: str | None = None, wait: bool = False, overwrite: bool = False,
          dashboard_url: str = "http://127.0.0.1:8050", poll_s: float = 2.0) -> int:
    try:
        plan = load_study(path, overrides, scale)
    except (ConfigError, SweepError, FileNotFoundError) as e:
        print(f"liplab study: {e}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = plan.body(sweep_name(plan, overrides, scale)) | {"overwrite": overwrite}
    data = post(api_url, "/sweeps", body, headers, "liplab study")
    if isinstance(data, int):
        return data
    print(f"study {plan.name}: sweep {data['id']}, {data['n_runs']} runs "
          f"({data.get('queued', data['n_runs'])} queued)  {dashboard_url}/sweeps/{data['id']}",
          flush=True)
    if not wait:
        return 0
    metric, higher = _progress_metric(plan)
    started = time.monotonic()
    code = wait_for(data["run_ids"], api_url=api_url, headers=headers, poll_s=poll_s,
                    metric=metric, higher_is_better=higher, ok=OK)
    out_dir = Path(out or f"docs/results/{plan.name}")
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as client:
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
