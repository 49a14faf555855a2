"""bench/api.py's bulk-loaded store is one the server reads: the sweep and its grid answer, with
the cells a brute-force pass over the loaded rows gives (on SQLite the loader once wrote bare
dates as `created_at`, which the server cannot parse: every request reading that sweep was a 500)."""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bench.api import LOADERS, database, run_tuples
from server.main import create_app
from server.migrate import upgrade
from tests.server.conftest import make_settings

GRID_RUNS = 80  # every (width, lr) pair twice: cells of two seeds


def brute_grid(runs: list[tuple]) -> dict[tuple, list[tuple[int, str, float]]]:
    """(width, lr) → [(run id, status, last train_loss)] over the grid sweep's rows (sweep 2)."""
    cells = defaultdict(list)
    for run_id, sweep, _name, status, cfg, _overrides, _created, _attempts, summary, _cancel in runs:
        if sweep == 2:
            c, last = json.loads(cfg), json.loads(summary)["train_loss"]["last"]
            cells[(c["model"]["width"], c["training"]["lr"])].append((run_id, status, last))
    return cells


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_loaded_sweep_grid_answers_as_brute_force(kind, tmp_path):
    runs = run_tuples(GRID_RUNS + 10, GRID_RUNS)
    with database(kind) as url:
        upgrade(url)
        LOADERS[kind](url, runs, np.zeros(3))
        app = create_app(make_settings(url, tmp_path))
        try:
            with TestClient(app, base_url="http://testserver/api/v1") as client:
                sweep = client.get("/sweeps/2")
                grid = client.get("/sweeps/2/grid", params={"x": "model.width", "y": "training.lr",
                                                           "metric": "train_loss", "agg": "mean"})
        finally:
            app.state.engine.dispose()
    assert sweep.status_code == 200, sweep.text
    assert grid.status_code == 200, grid.text
    g, cells = grid.json(), brute_grid(runs)
    assert g["x"] == sorted({w for w, _ in cells}) and g["y"] == sorted({lr for _, lr in cells})
    for i, lr in enumerate(g["y"]):
        for j, w in enumerate(g["x"]):
            members = cells[(w, lr)]
            assert g["run_ids"][i][j] == sorted(r for r, _, _ in members)
            assert g["counts"][i][j] == {s: sum(st == s for _, st, _ in members) for _, s, _ in members}
            assert g["z"][i][j] == pytest.approx(np.mean([v for *_, v in members]), rel=1e-12)
