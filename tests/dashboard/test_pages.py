"""Every dashboard page in headless Chromium against a live API, a real worker and real runs.

One LiveSystem per module; the sweep is submitted once and shared. Each test opens its page,
waits until every plot holds data, checks what the page must show, and saves a screenshot.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dashboard import client
from dashboard.figures import landscape_figures
from tests.dashboard.conftest import open_page, plot_data, screenshot, wait_all_plots_hold_data
from tests.test_end_to_end import QUICK

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SWEEP_PARAMS = {"model.depth": "1,2", "model.width": "8,16", "training.batch_seed": "0,1"}


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def preset(name: str, **training) -> dict:
    """A shipped preset from configs/, with training keys overridden (shorter runs)."""
    import yaml

    cfg = yaml.safe_load((Path(__file__).parents[2] / "configs" / f"{name}.yaml").read_text())
    return {**cfg, "training": {**cfg["training"], **training}}


def config(**training) -> dict:
    return {**QUICK, "training": {**QUICK["training"], **training}}


@pytest.fixture(scope="module")
def sweep(embedded_system):
    """A 2 × 2 × 2 sweep (depth × width × seed) of short runs, all finished."""
    r = embedded_system.client.post("/sweeps", json={"name": "grid", "config": config(epochs=4),
                                                     "params": SWEEP_PARAMS})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["n_runs"] == 8
    for run_id in body["run_ids"]:
        embedded_system.wait_run(run_id, timeout=180)
    return body


@pytest.fixture
def app(embedded_system):
    from dashboard.app import create_app

    return create_app(embedded_system.url)


def test_run_page_appends_live_points_and_stops_polling(browser_ok, embedded_system, app, dash_duo,
                                                        monkeypatch):
    calls = []
    real = client.metrics

    def recording(run_id, keys=None, max_points=None, after=None):  # noqa: ANN001
        out = real(run_id, keys=keys, max_points=max_points, after=after)
        calls.append({"keys": keys, "after": after, "points": sum(len(s["step"]) for s in out.values())})
        return out

    monkeypatch.setattr(client, "metrics", recording)
    r = embedded_system.client.post("/runs", json={"config": config(epochs=600)})
    run_id = r.json()["id"]
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/runs/{run_id}")
    dash_duo._wait_for(lambda _d: dash_duo.find_element("#run-status").text, timeout=20,
                       msg="no status shown")
    first_status = dash_duo.find_element("#run-status").text
    dash_duo._wait_for(lambda _d: "succeeded" in dash_duo.find_element("#run-status").text,
                       timeout=180, msg="the run never showed as succeeded")
    api = embedded_system.client.get(f"/runs/{run_id}/metrics", params={"keys": "train_loss"}).json()
    steps = api["train_loss"]["step"]
    assert len(steps) == 600

    def plotted(_d=None) -> list:
        return dash_duo.driver.execute_script(
            "const p = document.querySelector('#run-curves .js-plotly-plot');"
            "const t = p && p.data && p.data.find(t => t.name === 'train_loss');"
            "return t ? Array.from(t.x) : [];")

    dash_duo._wait_for(lambda d: plotted() == steps, timeout=20,
                       msg=lambda _d: f"plotted train_loss steps != the API's ({len(plotted())} vs {len(steps)})"
                       f"; calls {calls[:5]}; logs {dash_duo.get_logs()}")
    assert any(s in first_status for s in ("queued", "running")), first_status
    # once points were drawn, polls asked only for newer ones (after=), never the whole history,
    # and some of them brought points that were appended while the run went on
    first = next(i for i, c in enumerate(calls) if c["points"])
    later = calls[first + 1:]
    assert later and all(c["after"] is not None for c in later), "\n".join(map(str, calls))
    assert any(c["points"] for c in later), calls
    assert sum(c["points"] for c in calls) <= 2 * len(steps) + 2 * len(later), calls
    n_calls = len(calls)
    time.sleep(4)  # more than two intervals: the run has ended, so the interval is off
    assert len(calls) == n_calls
    summary = embedded_system.client.get(f"/runs/{run_id}").json()["summary"]
    spectrum = {"run-lyapunov"} if any(k.startswith("lyapunov/") for k in summary) else set()
    wait_all_plots_hold_data(dash_duo, {"run-curves", *spectrum})
    if not spectrum:  # no exponents logged: the spectrum is hidden, not drawn empty
        assert not dash_duo.find_element("#run-lyapunov").is_displayed()
    assert "mlp" in dash_duo.find_element("#run-config").text
    screenshot(dash_duo, "run")


def test_run_page_draws_the_lyapunov_spectrum_of_a_flossing_run(browser_ok, embedded_system, app,
                                                                 dash_duo):
    config = preset("sine_flossing", epochs=2)
    r = embedded_system.client.post("/runs", json={"config": config})
    run = embedded_system.wait_run(r.json()["id"], timeout=240)
    assert run["status"] == "succeeded", run["error"]
    open_page(dash_duo, app, f"/runs/{run['id']}", {"run-curves", "run-lyapunov"})
    spectrum = plot_data(dash_duo, "run-lyapunov", "[Array.from(data[1].x), Array.from(data[1].y)]")
    k = config["flossing"]["num_exponents"]
    assert spectrum[0] == list(range(k))
    assert spectrum[1] == pytest.approx([run["summary"][f"lyapunov/{i}"]["last"] for i in range(k)])
    screenshot(dash_duo, "run_flossing")


def test_runs_page_lists_varying_keys_filters_and_links_compare(browser_ok, embedded_system, sweep,
                                                               app, dash_duo):
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/")
    dash_duo.wait_for_contains_text("#runs-table", "succeeded", timeout=30)
    headers = {e.text for e in dash_duo.find_elements("#runs-table th")}
    configs = [flat(r["config"]) for r in
               embedded_system.client.get("/runs", params={"limit": 1000}).json()["items"]]
    keys = set().union(*configs) - {"name"}
    varying = {k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1}
    assert {"model.depth", "model.width", "training.batch_seed"} <= varying <= headers
    from dashboard.runs_view import FIXED, TIMES

    run_columns = {name for name, _ in FIXED + TIMES}  # the run's own fields, not config keys
    constant_shown = (keys - varying) & (headers - run_columns)
    assert not constant_shown, constant_shown  # keys with one value across the runs are not columns
    dash_duo.wait_for_contains_text("#runs-sweeps", "grid", timeout=20)
    boxes = dash_duo.find_elements("#runs-table input[type=checkbox]")
    boxes[0].click()
    boxes[1].click()
    dash_duo._wait_for(lambda _d: "runs=" in dash_duo.find_element("#runs-compare").get_attribute("href"),
                       timeout=10, msg="compare link never got the selected runs")
    # a server-side filter: exactly the API's depth-2 runs remain (depth no longer varies among
    # them, so its column goes away)
    want = embedded_system.client.get("/runs", params={"where": "model.depth==2", "limit": 1000}).json()
    want_ids = sorted(str(r["id"]) for r in want["items"])
    dash_duo.find_element("#runs-where").send_keys("model.depth==2\n")

    def shown() -> tuple[list[str], list[str]]:
        return tuple(dash_duo.driver.execute_script(
            "const t = document.querySelector('#runs-table');"
            "return [Array.from(t.querySelectorAll('th')).map(e => e.innerText.trim()),"
            " Array.from(t.querySelectorAll('td[data-dash-column=link]')).map(e => e.innerText.trim())];"))

    dash_duo._wait_for(lambda _d: sorted(shown()[1]) == want_ids, timeout=20,
                       msg=lambda _d: f"filtered ids {shown()[1]} != the API's {want_ids}")
    assert len(want_ids) >= 4 and "model.depth" not in shown()[0]


def test_sweep_page_heatmap_groups_and_parallel_coordinates(browser_ok, sweep, app, dash_duo):
    points = open_page(dash_duo, app, f"/sweeps/{sweep['id']}",
                       {"sweep-heatmap", "sweep-status", "sweep-groups", "sweep-parallel"}, timeout=40)
    heat = plot_data(dash_duo, "sweep-heatmap",
                     "{z: data[0].z, x: data[0].x, y: data[0].y, marks: data.slice(1).map(t => t.name)}")
    assert len(heat["x"]) == 2 and len(heat["y"]) == 2
    assert all(v is not None for row in heat["z"] for v in row)
    assert heat["marks"] == ["succeeded"]
    groups = plot_data(dash_duo, "sweep-groups",
                       "data.filter(t => t.customdata).map(t => [t.name, Array.from(t.customdata)])")
    assert len(groups) == 2 and all(max(n) == 4 for _, n in groups)  # 2 widths × 2 seeds per depth
    assert "8 succeeded" in dash_duo.find_element("#sweep-counts").text
    screenshot(dash_duo, "sweep")
    assert points["sweep-parallel"] > 0


def test_sweep_buttons_retry_and_cancel(browser_ok, sweep, app, dash_duo):
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/sweeps/{sweep['id']}")
    dash_duo.wait_for_element("#sweep-retry").click()
    dash_duo.wait_for_text_to_equal("#sweep-action", "retried 0 runs", timeout=15)  # none failed
    dash_duo.find_element("#sweep-cancel").click()
    dash_duo.wait_for_text_to_equal("#sweep-action", "cancelled 0 runs", timeout=15)  # none active


@pytest.fixture(scope="module")
def layers(embedded_system):
    """Seed 004's workflow, shortened: configs/lipschitz_compare.yaml over three layer families,
    each scored by the certified and measurement probes."""
    r = embedded_system.client.post("/sweeps", json={"name": "layers",
                                                     "config": preset("lipschitz_compare", epochs=2),
                                                     "params": {"model.layer": "aol,cpl,sll"}})
    assert r.status_code == 201, r.text
    runs = [embedded_system.wait_run(i, timeout=240) for i in r.json()["run_ids"]]
    assert all(run["status"] == "succeeded" for run in runs), [run["error"] for run in runs]
    return runs


def test_compare_page_radar_and_overlaid_curves(browser_ok, layers, app, dash_duo):
    ids = [r["id"] for r in layers]
    open_page(dash_duo, app, f"/compare?runs={','.join(map(str, ids))}", {"compare-radar", "compare-curves"})
    radar = plot_data(dash_duo, "compare-radar",
                      "data.map(t => ({name: t.name, theta: Array.from(t.theta), r: Array.from(t.r)}))")
    assert [t["name"] for t in radar] == ["model.layer=aol", "model.layer=cpl", "model.layer=sll"]
    axes = radar[0]["theta"][:-1]
    assert axes[0] == "test_acc" and axes[-2:] == ["time/batch_s", "memory/peak_bytes"]
    assert sum(a.startswith("certified_acc/") for a in axes) == 5  # one axis per ε of the preset
    for axis in range(len(axes)):  # larger is better, scaled so the best run has 1 on each axis
        scores = [t["r"][axis] for t in radar]
        assert max(scores) == pytest.approx(1.0) or max(scores) == 0
        assert all(0 <= v <= 1 for v in scores)
    assert plot_data(dash_duo, "compare-curves", "data.length") == 3
    screenshot(dash_duo, "compare")


def test_workers_page_shows_services_and_queues(browser_ok, sweep, app, dash_duo):
    open_page(dash_duo, app, "/workers", {"workers-queues", "workers-runs"})
    dash_duo.wait_for_contains_text("#workers-database", "ok", timeout=10)
    dash_duo.wait_for_contains_text("#workers-broker", "ok", timeout=10)
    dash_duo.wait_for_contains_text("#workers-table", "w0@", timeout=10)
    screenshot(dash_duo, "workers")


def clear(textarea) -> None:
    """Select all and delete, as a user would (React ignores Selenium's .clear())."""
    from selenium.webdriver.common.keys import Keys

    textarea.send_keys(Keys.CONTROL, "a")
    textarea.send_keys(Keys.DELETE)


def test_submit_page_validates_next_to_the_key_previews_and_submits(browser_ok, embedded_system, app,
                                                                     dash_duo):
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/submit")
    dash_duo.wait_for_contains_text("#submit-preview", "valid: 1 run", timeout=20)
    editor = dash_duo.find_element("#submit-yaml")
    clear(editor)
    editor.send_keys("name: typo\ndata: {name: sine}\ntraining:\n  lrr: 0.1\n")
    dash_duo.wait_for_contains_text("#submit-annotated .line.bad", "training.lrr", timeout=20)
    bad = dash_duo.find_elements("#submit-annotated .line.bad")
    assert len(bad) == 1 and bad[0].text.split()[0] == "4" and "lrr: 0.1" in bad[0].text  # on its line
    assert dash_duo.find_element("#submit-go").get_attribute("disabled")
    screenshot(dash_duo, "submit")
    clear(editor)
    editor.send_keys("name: ok\ndata: {name: sine}\ntraining:\n  epochs: 2\n")
    dash_duo.find_element("#submit-overrides").send_keys("model.width=8,16\ntraining.lr=0.01,0.02,0.03")
    dash_duo.wait_for_contains_text("#submit-preview", "valid: 6 runs", timeout=20)
    dash_duo.find_element("#submit-go").click()
    dash_duo.wait_for_contains_text("#submit-result", "queued 6 runs in sweep", timeout=20)


# Probes that run on a single finished run without checkpoints or a peer.
STANDALONE = ["interpolation", "slice_1d", "slice_2d", "hessian"]
SAMPLE = json.loads((Path(__file__).parent / "data" / "probe_results.json").read_text())
SAMPLE.pop("_provenance")


def attach_results(system, run_id: int, results: dict[str, dict]) -> None:
    """Store probe results the way the worker does: a JSON file and an artifact row per probe."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from server.models import Artifact

    folder = system.home / "artifacts" / str(run_id) / "probes"
    folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{system.home / 'liplab.db'}")
    with Session(engine) as db:
        for name, result in results.items():
            path = folder / f"{name}.json"
            path.write_text(json.dumps(result))
            db.add(Artifact(run_id=run_id, name=name, kind="probe", path=str(path)))
        db.commit()
    engine.dispose()


@pytest.fixture
def probe_run(embedded_system, sweep):
    """A finished run with every landscape probe's result. The standalone probes are computed
    by a real run when lipcore registers them; the others (which need checkpoints or a second
    run) come from tests/dashboard/data/probe_results.json, real outputs of the probes code."""
    from lipcore import catalog

    real = [p for p in STANDALONE if p in catalog.PROBES]
    if real:
        r = embedded_system.client.post("/runs", json={"config": {
            **config(epochs=3), "probes": [{"name": p} for p in real]}})
        run = embedded_system.wait_run(r.json()["id"], timeout=240)
        assert run["status"] == "succeeded", run["error"]
    else:
        run = embedded_system.client.get(f"/runs/{sweep['run_ids'][0]}").json()
    attach_results(embedded_system, run["id"], {k: v for k, v in SAMPLE.items() if k not in real})
    results = embedded_system.client.get(f"/runs/{run['id']}/probes").json()["results"]
    assert set(SAMPLE) <= set(results)
    return {"id": run["id"], "figures": [name for name, _ in landscape_figures(results)]}


def test_landscape_page_draws_each_probe(browser_ok, embedded_system, app, dash_duo, probe_run):
    expected = {f"landscape-{name}-{i}" for i, name in enumerate(probe_run["figures"])}
    open_page(dash_duo, app, f"/runs/{probe_run['id']}/landscape", expected, timeout=40)
    screenshot(dash_duo, "landscape")
