"""The run page renders a finished run's curve in a real headless Chromium."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_end_to_end import submit_and_finish

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def plotted_points(dash_duo, graph_id: str) -> int:
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g.data ? g.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0;")


@pytest.mark.browser
@pytest.mark.slow
def test_run_page_draws_the_curve(browser_ok, embedded_system, dash_duo):
    from dashboard.app import create_app

    run = submit_and_finish(embedded_system, epochs=8)
    dash_duo.start_server(create_app(embedded_system.url))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/runs/{run['id']}")
    dash_duo.wait_for_text_to_equal("#run-status", "status: succeeded", timeout=20)
    dash_duo.wait_for_element("#run-curves .js-plotly-plot", timeout=20)
    dash_duo._wait_for(lambda _d: plotted_points(dash_duo, "run-curves") >= 8, timeout=20,
                       msg="the train_loss curve never got its 8 points")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "run.png"))

    dash_duo.wait_for_page(dash_duo.server_url + "/")
    dash_duo.wait_for_contains_text("#runs-table", "succeeded", timeout=20)
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "runs.png"))
