"""The runs table in headless Chromium against a live API and worker: a metric column sorted
and filtered by the API over many runs, a bookmarked address restoring the view, tags and notes
edited on the run page, and the CSV download matching the API."""
from __future__ import annotations

import csv
import io
import random

import httpx
import pytest

from tests.dashboard.conftest import screenshot
from tests.server.helpers import finish
from tests.test_end_to_end import QUICK

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_RUNS = 130  # more than two pages of the table


@pytest.fixture(scope="module")
def many(embedded_system):
    """One run trained by the worker, and N_RUNS finished runs written straight into the store
    (a worker would take minutes for them), each with a test_acc series and the tag `many`."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from server import crud

    r = embedded_system.client.post("/runs", json={"config": {**QUICK, "training": {**QUICK["training"],
                                                                                  "epochs": 2}}})
    trained = embedded_system.wait_run(r.json()["id"], timeout=180)
    assert trained["status"] == "succeeded", trained["error"]
    rng = random.Random(0)
    engine = create_engine(f"sqlite:///{embedded_system.home / 'liplab.db'}")
    ids = []
    with Session(engine) as db:
        for i in range(N_RUNS):
            run = crud.create_run(db, config={**QUICK, "model": {**QUICK["model"], "width": 4 + i % 5}})
            run.tags = ["many"]
            db.commit()
            accs = [round(rng.random(), 4) for _ in range(3)]
            finish(db, run.id, points=[("test_acc", s, a) for s, a in enumerate(accs)])
            db.commit()
            ids.append(run.id)
    engine.dispose()
    return {"trained": trained, "ids": ids}


@pytest.fixture
def app(embedded_system):
    from dashboard.app import create_app

    return create_app(embedded_system.url)


SHOWN_JS = """
const t = document.querySelector('#runs-table');
if (!t) return [[], []];
return [Array.from(t.querySelectorAll('th .column-header-name')).map(e => e.innerText.trim()),
        Array.from(t.querySelectorAll('td[data-dash-column=link]')).map(e => e.innerText.trim())];
"""


def shown(dash_duo) -> tuple[list[str], list[str]]:
    return tuple(dash_duo.driver.execute_script(SHOWN_JS))


def api_ids(system, **params) -> list[str]:
    items = system.client.get("/runs", params={"limit": 50, **params}).json()["items"]
    return [str(r["id"]) for r in items]


def wait_shown(dash_duo, want: list[str], what: str) -> None:
    dash_duo._wait_for(lambda _d: shown(dash_duo)[1] == want, timeout=30,
                       msg=lambda _d: f"{what}: shown {shown(dash_duo)[1][:8]}… != the API's {want[:8]}…")


def test_sort_and_filter_by_a_metric_column_restore_from_the_url_and_download(
        browser_ok, embedded_system, many, app, dash_duo):
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/runs?metrics=test_acc:max,test_acc:last")
    dash_duo.wait_for_contains_text("#runs-total", "runs", timeout=30)
    assert "test_acc max" in shown(dash_duo)[0], shown(dash_duo)[0]
    # sort by the metric column: the header's sort button, pressed twice, asks for descending
    header = next(th for th in dash_duo.find_elements("#runs-table th")
                  if th.text.strip() == "test_acc max")
    header.find_element("css selector", ".column-header--sort").click()
    wait_shown(dash_duo, api_ids(embedded_system, order_by="test_acc", order_stat="max"), "ascending")
    header = next(th for th in dash_duo.find_elements("#runs-table th")
                  if th.text.strip() == "test_acc max")
    header.find_element("css selector", ".column-header--sort").click()
    best = api_ids(embedded_system, order_by="-test_acc", order_stat="max")
    wait_shown(dash_duo, best, "descending")
    # filter on the metric in SQL; the second page is the API's second page
    where = "tags contains many; summary.test_acc.max<0.8"
    dash_duo.find_element("#runs-where").send_keys(where + "\n")
    params = {"order_by": "-test_acc", "order_stat": "max",
              "where": ["tags contains many", "summary.test_acc.max<0.8"]}
    filtered = api_ids(embedded_system, **params)
    total = embedded_system.client.get("/runs", params=params).json()["total"]
    assert 50 < total < N_RUNS
    wait_shown(dash_duo, filtered, "filtered")
    dash_duo.find_element("#runs-table .next-page").click()
    wait_shown(dash_duo, api_ids(embedded_system, offset=50, **params), "page 2")
    screenshot(dash_duo, "runs")
    # the address bar holds the view: opened afresh, it shows the same columns and rows
    url = dash_duo.driver.current_url
    assert "sort=-test_acc%3Amax" in url and "page=1" in url, url
    before = shown(dash_duo)
    dash_duo.driver.get("about:blank")
    dash_duo.wait_for_page(url)
    dash_duo._wait_for(lambda _d: shown(dash_duo) == before, timeout=30,
                       msg=lambda _d: f"restored view {shown(dash_duo)} != {before}")
    assert dash_duo.find_element("#runs-where").get_attribute("value") == where
    # the CSV link downloads the whole view (every page), as the API lists it
    href = dash_duo.find_element("#runs-csv").get_attribute("href")
    rows = list(csv.DictReader(io.StringIO(httpx.get(href, timeout=60).text)))
    every = embedded_system.client.get("/runs", params={**params, "limit": 1000}).json()["items"]
    assert [int(r["id"]) for r in rows] == [r["id"] for r in every]
    assert [float(r["test_acc:max"]) for r in rows] == [r["summary"]["test_acc"]["max"] for r in every]
    assert [float(r["test_acc:last"]) for r in rows] == [r["summary"]["test_acc"]["last"] for r in every]


def test_tags_and_note_round_trip_from_the_run_page(browser_ok, embedded_system, many, app, dash_duo):
    run_id = many["trained"]["id"]
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/runs/{run_id}")
    dash_duo.wait_for_contains_text("#run-title", "Run", timeout=20)
    dash_duo.find_element("#run-tags").send_keys("keep, lr:0.01")
    dash_duo.find_element("#run-note").send_keys("diverges without warm-up")
    dash_duo.find_element("#run-notes-save").click()
    dash_duo.wait_for_text_to_equal("#run-notes-result", "saved", timeout=15)
    run = embedded_system.client.get(f"/runs/{run_id}").json()
    assert run["tags"] == ["keep", "lr:0.01"] and run["note"] == "diverges without warm-up"
    dash_duo.wait_for_page(f"{dash_duo.server_url}/runs?where=note~WARM-UP")
    wait_shown(dash_duo, [str(run_id)], "searched by note")
    dash_duo.wait_for_contains_text("#runs-table", "keep, lr:0.01", timeout=10)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/runs/{run_id}")
    dash_duo._wait_for(lambda _d: dash_duo.find_element("#run-tags").get_attribute("value") == "keep, lr:0.01",
                       timeout=20, msg="tags not shown back on the run page")


@pytest.fixture(scope="module")
def two_sweeps(embedded_system):
    """Two finished 3-run sweeps written into the store, the first one named as a study; each
    run logs train_loss = level·(1 + seed/10) at steps 0..4 (level 1 in sweep A, 3 in B), and a
    test loss and accuracy (the radar's axes)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from server import crud

    engine = create_engine(f"sqlite:///{embedded_system.home / 'liplab.db'}")
    out = {}
    with Session(engine) as db:
        for name, level in (("001_deep_linear", 1.0), ("plain", 3.0)):
            sweep, members, _ = crud.create_sweep(db, config=QUICK, name=name,
                                                  params={"training.batch_seed": "0,1,2"})
            db.commit()
            for seed, run in enumerate(members):
                finish(db, run.id, points=[(k, s, level * (1 + seed / 10) * f) for s in range(5)
                                           for k, f in (("train_loss", 1), ("test_loss", 2), ("test_acc", 0.1))])
                db.commit()
            out[name] = sweep.id
    engine.dispose()
    return out


def test_two_sweeps_compared_draw_both_groups_and_a_study_shows_its_report(
        browser_ok, embedded_system, many, two_sweeps, app, dash_duo, tmp_path, monkeypatch):
    from tests.dashboard.conftest import plot_data, wait_all_plots_hold_data

    study, plain = two_sweeps["001_deep_linear"], two_sweeps["plain"]
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/compare?sweeps={study},{plain}&by=sweep")
    wait_all_plots_hold_data(dash_duo, {"compare-curves", "compare-radar"})
    means = plot_data(dash_duo, "compare-curves",
                      "data.filter(t => t.customdata).map(t => [t.name, Array.from(t.y)])")
    assert [name for name, _ in means] == [f"sweep={study} (N≤3)", f"sweep={plain} (N≤3)"]
    assert means[0][1] == pytest.approx([1.1] * 5) and means[1][1] == pytest.approx([3.3] * 5)
    dash_duo.wait_for_contains_text("#compare-table", "N=3", timeout=10)
    dash_duo.find_element("#compare-runs").send_keys(f"{many['trained']['id']}\n")  # one more run, a third group
    dash_duo._wait_for(lambda d: f"runs={many['trained']['id']}" in d.current_url, timeout=20,
                       msg=lambda d: f"the address does not hold the comparison: {d.current_url}")
    dash_duo.wait_for_contains_text("#compare-table", "sweep=None", timeout=20)
    screenshot(dash_duo, "compare_sweeps")
    # a study without its report says how to make it; with the report, its tables and figures show
    monkeypatch.setenv("LIPLAB_REPORTS_DIR", str(tmp_path))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/sweeps/{study}")
    dash_duo.wait_for_contains_text("#sweep-study-missing", "liplab study configs/studies/001_deep_linear.yaml",
                                    timeout=20)
    folder = tmp_path / "001_deep_linear"
    (folder / "figures").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "figures" / "00_curves.png")
    (folder / "study.md").write_text("# 001_deep_linear\n\n| variant | test_loss |\n|---|---|\n"
                                     "| lockstep | 0.125 |\n\n![curves](figures/00_curves.png)\n")
    dash_duo.wait_for_page(f"{dash_duo.server_url}/sweeps/{study}")
    dash_duo.wait_for_contains_text("#sweep-study-report", "lockstep", timeout=20)
    dash_duo._wait_for(lambda d: d.execute_script(
        "const i = document.querySelector('#sweep-study-report img'); return i && i.naturalWidth === 40;"),
        timeout=10, msg="the report's figure did not load")
    screenshot(dash_duo, "sweep_study")
    dash_duo.wait_for_page(f"{dash_duo.server_url}/sweeps?metric=train_loss")
    dash_duo.wait_for_contains_text("#sweeps-table", "001_deep_linear", timeout=20)
    best = "return Array.from(document.querySelectorAll('#sweeps-table td[data-dash-column=best]')).map(e => e.innerText.trim())"
    dash_duo._wait_for(lambda d: d.execute_script(best) == ["3", "1"], timeout=20,  # lowest train_loss: seed 0
                       msg=lambda d: f"best values {d.execute_script(best)}")
    screenshot(dash_duo, "sweeps")
    dash_duo.wait_for_page(f"{dash_duo.server_url}/sweeps/{plain}")
    dash_duo.wait_for_contains_text("#sweep-title", "plain", timeout=20)
    assert dash_duo.find_element("#sweep-study").text == ""
