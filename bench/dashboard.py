"""Dashboard benchmark: seconds until the plot is drawn in headless Chromium.

Two cases (aim ≤ 2 s each):
  * the sweep page's heatmap for a sweep of 1,000 runs (10 depths × 10 widths × 10 seeds,
    each with a 50-point train_loss series), and
  * the run page's curve for a run whose train_loss has 1,000,000 points (the API downsamples).

It builds a throwaway store (embedded SQLite) through the API and the server's own metric
writer, starts the API process and the Dash app, then times `driver.get(url)` → the graph's
Plotly element holds data, several times (a fresh page load each), and prints a Markdown table.
`python bench/dashboard.py [--points 1000000] [--repeats 5] [--quick] [--json PATH]`; without
Chromium and chromedriver on PATH its table says so.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.live import LiveSystem  # noqa: E402
from tests.test_end_to_end import QUICK  # noqa: E402

HAS_DATA_JS = """
const p = document.querySelector('#%s .js-plotly-plot');
if (!p || !p.data || !p.data.length) return 0;
const t = p.data[0];
return (t.z ? t.z.filter(r => r.some(v => v !== null)).length : (t.x || []).length);
"""


class ApiOnly(LiveSystem):
    """The API process alone: the benchmark writes results itself, no worker trains anything."""

    def __init__(self, home: Path, database_url: str | None = None):
        super().__init__(home, database_url=database_url, workers=0)

    def wait_healthy(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = self.client.get("/health").json()
                if health["database"] == "ok":
                    return health
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(self.logs())


def store(system: LiveSystem):
    """A session on the API's own database (the same SQLite file), through the server's models."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine(system.env.get("LIPLAB_DATABASE_URL") or f"sqlite:///{system.home / 'liplab.db'}")
    return sessionmaker(engine)


def build_sweep(system: LiveSystem, Session, steps: int = 50) -> int:  # noqa: N803
    from server.metrics import write_points
    from server.models import Run

    r = system.client.post("/sweeps", json={
        "name": "bench-1000", "config": QUICK,
        "params": {"model.depth": "1..11", "model.width": "8..108..10", "training.batch_seed": "0..10"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["n_runs"] == 1000, body["n_runs"]
    with Session() as db:
        for i, run_id in enumerate(body["run_ids"]):
            scale = 1 + (i % 97) / 50
            write_points(db, run_id, [("train_loss", s, scale / (1 + s)) for s in range(steps)])
            run = db.get(Run, run_id)
            run.status = "succeeded" if i % 13 else "diverged"
        db.commit()
    return body["id"]


def build_long_run(system: LiveSystem, Session, n_points: int) -> int:  # noqa: N803
    import math

    from server.metrics import write_points
    from server.models import Run

    r = system.client.post("/runs", json={"config": QUICK})
    run_id = r.json()["id"]
    chunk = 50_000
    with Session() as db:
        for start in range(0, n_points, chunk):
            write_points(db, run_id, [("train_loss", s, 1 / math.sqrt(1 + s) + 0.01 * math.sin(s / 50))
                                      for s in range(start, min(start + chunk, n_points))])
        db.get(Run, run_id).status = "succeeded"
        db.commit()
    return run_id


def time_until_drawn(browser, url: str, graph: str, repeats: int, timeout: float = 60) -> list[float]:
    """Seconds from navigation to the graph holding data, per fresh page load (inf: not drawn)."""
    times = []
    for _ in range(repeats):
        browser.driver.get("about:blank")
        t0 = time.perf_counter()
        browser.driver.get(url)
        while browser.driver.execute_script(HAS_DATA_JS % graph) == 0:
            if time.perf_counter() - t0 > timeout:
                return times + [math.inf]
            time.sleep(0.02)
        times.append(time.perf_counter() - t0)
    return times


def api_time(system: LiveSystem, path: str, params: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        system.client.get(path, params=params, timeout=600).raise_for_status()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import shutil

    from bench.harness import Aim, Table, emit, parser, size

    p = parser(__doc__)
    p.add_argument("--points", type=int, default=None, help="1,000,000 (quick 100,000)")
    p.add_argument("--repeats", type=int, default=None, help="5 (quick 2)")
    p.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database "
                   "(LIPLAB_TEST_PG_URL, default 127.0.0.1:5432) instead of embedded SQLite")
    args = p.parse_args()
    args.points = args.points or size(args, 1_000_000, 100_000, 5_000)
    args.repeats = args.repeats or size(args, 5, 2, 1)
    t = Table("dashboard", "Dashboard draw: navigation → the graph holds data, headless Chromium, "
              "a fresh page load each", ["page", "data", "drawn in (median)", "min – max", "API call (median)"],
              plot_unit="s to draw")
    if not (shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("google-chrome"))):
        t.rows.append(["(all)", "", "not run: Chromium and chromedriver are not on PATH", "", ""])
        t.aims.append(Aim("a page drawn", "≤ 2 s", "not run", None))
        emit([t], args.json)
        return
    if args.postgres:
        from tests.services import pg_database

        with pg_database() as url:
            rows = bench(args, url)
    else:
        rows = bench(args, None)
    for name, data, times, api in rows:
        finite = not math.isinf(max(times))
        t.rows.append([name, data, f"{statistics.median(times):.2f} s" if finite else "not drawn within 60 s",
                       f"{min(times):.2f} – {max(times):.2f} s" if finite else "", api])
        if finite:
            t.plot[name.split(" ")[0]] = (statistics.median(times), min(times), max(times))
        if "baseline" not in name:
            m = statistics.median(times)
            t.aims.append(Aim(name, "≤ 2 s", f"{m:.2f} s", m <= 2))
    t.title += f" (store: {'PostgreSQL' if args.postgres else 'SQLite'}; {args.repeats} page loads each)"
    emit([t], args.json)


def bench(args: argparse.Namespace, database_url: str | None) -> list[tuple]:
    """Build the store, then time the API calls and the pages: (page, data, seconds, API call)."""
    from dash.testing.application_runners import ThreadedRunner
    from dash.testing.browser import Browser

    from dashboard.app import create_app
    from tests.dashboard.conftest import pytest_setup_options

    home = Path(tempfile.mkdtemp(prefix="liplab-bench-"))
    with ApiOnly(home, database_url) as system:
        Session = store(system)  # noqa: N806
        t0 = time.perf_counter()
        sweep_id = build_sweep(system, Session)
        run_id = build_long_run(system, Session, args.points)
        print(f"store built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        grid_api = api_time(system, f"/sweeps/{sweep_id}/grid",
                            {"x": "model.width", "y": "model.depth", "metric": "train_loss", "agg": "min"},
                            args.repeats)
        metrics_api = api_time(system, f"/runs/{run_id}/metrics",
                               {"keys": "train_loss", "max_points": 2000}, args.repeats)
        app = create_app(system.url)
        with ThreadedRunner() as runner, Browser("Chrome", headless=True,
                                                 options=pytest_setup_options()) as browser:
            runner.start(app)
            base_t = time_until_drawn(browser, f"{runner.url}/workers", "workers-runs", args.repeats)
            sweep_t = time_until_drawn(browser, f"{runner.url}/sweeps/{sweep_id}", "sweep-heatmap",
                                       args.repeats)
            run_t = time_until_drawn(browser, f"{runner.url}/runs/{run_id}", "run-curves", args.repeats)
    return [("/workers bars (baseline: page, Dash and plotly.js load)", "run counts", base_t, ""),
            ("/sweeps/{id} heatmap", "1,000 runs × 50 points", sweep_t, f"grid {grid_api * 1000:.0f} ms"),
            ("/runs/{id} curves", f"{args.points:,} points → 2,000", run_t,
             f"metrics?max_points=2000 {metrics_api * 1000:.0f} ms")]


if __name__ == "__main__":
    main()
