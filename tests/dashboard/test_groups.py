"""Cross-sweep grouping: labels, mean ± std curves and summaries against hand-computed values."""
from __future__ import annotations

import math

import pytest

from dashboard import groups

RUNS = [{"id": 1, "sweep_id": 4, "config": {"model": {"layer": "aol"}}},
        {"id": 2, "sweep_id": 5, "config": {"model": {"layer": "aol"}}},
        {"id": 3, "sweep_id": 5, "config": {"model": {"layer": "cpl"}}}]


def test_a_run_is_grouped_by_its_sweep_or_a_config_value():
    assert [groups.group_of(r, "sweep") for r in RUNS] == ["4", "5", "5"]
    assert [groups.group_of(r, "model.layer") for r in RUNS] == ["aol", "aol", "cpl"]
    assert groups.group_of(RUNS[0], "model.depth") == "None"


def test_group_curves_are_the_mean_and_sample_std_of_the_members_at_each_step():
    series = {1: {"step": [0, 1, 2], "value": [1.0, 2.0, 3.0]},
              2: {"step": [0, 1], "value": [3.0, None]},   # a non-finite point is skipped
              3: {"step": [0], "value": [7.0]}}
    got = groups.group_curves(series, {1: "aol", 2: "aol", 3: "cpl"})
    aol, cpl = got
    assert aol["value"] == "aol" and aol["step"] == [0, 1, 2]
    assert aol["mean"] == [2.0, 2.0, 3.0] and aol["n"] == [2, 1, 1]
    assert aol["std"][0] == pytest.approx(math.sqrt(2.0))  # (1-2)² + (3-2)² over n-1 = 1
    assert aol["std"][1:] == [0.0, 0.0]
    assert aol["stderr"][0] == pytest.approx(math.sqrt(2.0) / math.sqrt(2))
    assert cpl == {"value": "cpl", "step": [0], "mean": [7.0], "std": [0.0], "stderr": [0.0], "n": [1]}


def test_summaries_average_each_metric_over_the_group():
    values = {1: {"acc": 0.5, "loss": None}, 2: {"acc": 0.7, "loss": 0.1}, 3: {"acc": 0.9, "loss": 0.2}}
    stats = groups.group_values(values, {1: "a", 2: "a", 3: "b"}, ["acc", "loss"])
    assert stats["a"]["acc"]["mean"] == pytest.approx(0.6) and stats["a"]["acc"]["n"] == 2
    assert stats["a"]["acc"]["std"] == pytest.approx(math.sqrt(0.02))
    assert stats["a"]["loss"] == {"mean": 0.1, "std": 0.0, "n": 1}
    rows = groups.summary_rows(stats, ["acc", "loss"], {"a": 2, "b": 1})
    assert rows[0] == {"group": "a", "runs": 2, "acc": "0.6 ± 0.14 (N=2)", "loss": "0.1 ± 0 (N=1)"}
    assert groups.summary_rows({"c": {"acc": {"mean": None, "std": None, "n": 0}}}, ["acc"], {})[0]["acc"] == "–"
