"""Browser tests: Dash pages in headless Chromium against a live API with real runs.

Skipped locally (failed in CI) without Chromium and chromedriver. Every page test checks that
each plot on the page holds data and saves a full-page screenshot: into a temporary folder by
default, into `docs/screenshots/` with `make screenshots` (LIPLAB_SCREENSHOTS=docs/screenshots),
so that a test run never rewrites the committed pictures.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.services import need

SCREENSHOTS = Path(os.environ.get("LIPLAB_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "liplab-screenshots")

# Points per graph on the page: {graph id: n} (-1: the graph has no Plotly figure yet).
POINTS_JS = """
return Object.fromEntries(Array.from(document.querySelectorAll('.dash-graph')).map(g => {
  const p = g.querySelector('.js-plotly-plot');
  if (!p || !p.data) return [g.id, -1];
  return [g.id, p.data.reduce((n, t) => n + (t.x || t.z || t.r || t.dimensions || []).length, 0)];
}));
"""


def pytest_setup_options():
    """Chromium options for dash_duo: headless, a large window, software WebGL for scattergl."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in ("--headless=new", "--window-size=1400,1000", "--enable-unsafe-swiftshader",
                "--use-angle=swiftshader", "--hide-scrollbars"):
        options.add_argument(arg)
    return options


@pytest.fixture
def browser_ok():
    need(shutil.which("chromedriver") is not None and
         (shutil.which("chromium") or shutil.which("google-chrome")) is not None,
         "Chromium and chromedriver (apt-get install chromium chromium-driver)")


def graph_points(dash_duo) -> dict[str, int]:
    return dash_duo.driver.execute_script(POINTS_JS)


def wait_all_plots_hold_data(dash_duo, expected: set[str], timeout: float = 30) -> dict[str, int]:
    """Wait until each graph in `expected` is on the page and holds at least one point."""
    seen: dict[str, int] = {}

    def ready(_driver) -> bool:
        seen.clear()
        seen.update(graph_points(dash_duo))
        return expected <= set(seen) and all(seen[g] > 0 for g in expected)

    dash_duo._wait_for(ready, timeout=timeout,
                       msg=lambda _d: f"plots without data: expected {sorted(expected)}, saw {seen}")
    return seen


def open_page(dash_duo, app, path: str, graphs: set[str] = frozenset(), timeout: float = 30) -> dict:
    """Serve `app`, open `path` and wait until each graph in `graphs` holds data."""
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + path)
    return wait_all_plots_hold_data(dash_duo, set(graphs), timeout=timeout) if graphs else {}


def plot_data(dash_duo, graph_id: str, expression: str):
    """Evaluate a JS expression over the graph's traces `data` (the figure as Plotly holds it)."""
    return dash_duo.driver.execute_script(
        f"const data = document.querySelector('#{graph_id} .js-plotly-plot').data; return {expression};")


def screenshot(dash_duo, name: str) -> Path:
    """A full-page PNG in SCREENSHOTS (the window grows to the page's height first)."""
    driver = dash_duo.driver
    for _ in range(2):  # growing the window can reflow the page: measure again
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(height + 140, 900), 5000))
        time.sleep(0.5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
