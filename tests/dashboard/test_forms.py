"""The submit form's pure parts and the derived table views."""
from __future__ import annotations

from dashboard.derive import flatten, varying_keys
from dashboard.runs_view import table_rows
from dashboard.forms import annotate, key_lines, line_for, parse_overrides, parse_yaml, parse_zip
from dashboard.client import issues_from_detail

YAML = """name: demo
data: {name: sine, n_train: 64}
model:
  name: mlp
  depth: 2   # blocks
training:
  optimizer: adam
  lrr: 0.1
"""


def test_key_lines_follow_indentation_and_flow_mappings():
    lines = key_lines(YAML)
    assert lines["name"] == 0 and lines["data"] == 1 and lines["data.n_train"] == 1
    assert lines["model.depth"] == 4 and lines["training.lrr"] == 7
    assert line_for("training.lrr", lines) == 7
    assert line_for("model.nope.deeper", lines) == 2  # an unknown key lands on its section
    assert line_for("flossing.enabled", lines) is None


def test_annotate_puts_each_message_on_its_keys_line():
    rows = annotate(YAML, [("training.lrr", "unknown key; allowed: lr, …"), ("flossing.x", "bad")])
    assert rows[7] == (7, "  lrr: 0.1", ["training.lrr: unknown key; allowed: lr, …"])
    assert all(not msgs for n, _, msgs in rows if n not in (7, -1))
    assert rows[-1] == (-1, "", ["flossing.x: bad"])


def test_parse_yaml_and_overrides():
    cfg, err = parse_yaml(YAML)
    assert err is None and cfg["model"]["depth"] == 2
    assert parse_yaml("a: [1,")[0] is None and "YAML" in parse_yaml("a: [1,")[1]
    assert parse_yaml("- 1")[1].startswith("YAML: the config must be a mapping")
    params, bad = parse_overrides("model.depth=2,4\n# comment\n\ntraining.lr = logfloat(1e-4,1e-1)\noops")
    assert params == {"model.depth": "2,4", "training.lr": "logfloat(1e-4,1e-1)"}
    assert list(bad) == ["line 5"]
    assert parse_zip("model.width, training.lr; a,b") == [["model.width", "training.lr"], ["a", "b"]]
    assert parse_zip("  ") is None


def test_fastapi_422_details_become_dotted_keys():
    detail = [{"loc": ["body", "config", "training", "lrr"], "msg": "unknown"},
              {"loc": ["body", "params", "model.dpth"], "msg": "no such key"}]
    assert issues_from_detail(detail) == [("training.lrr", "unknown"), ("params.model.dpth", "no such key")]


RUNS = [
    {"id": 1, "name": "a", "status": "succeeded", "sweep_id": 3, "created_at": "2026-12-01T10:00:00",
     "config": {"name": "a", "model": {"depth": 2, "width": 16}, "probes": [{"name": "x"}]},
     "summary": {"train_loss": {"last": 0.123456789}}},
    {"id": 2, "name": "b", "status": "failed", "sweep_id": 3, "created_at": "2026-12-01T10:00:01",
     "config": {"name": "b", "model": {"depth": 4, "width": 16}, "probes": []}, "summary": {}},
    {"id": 3, "name": "c", "status": "succeeded", "sweep_id": None, "created_at": "",
     "config": {"name": "c", "model": {"depth": 4, "width": 16}, "probes": []}, "summary": {}},
]


def test_varying_keys_only_lists_keys_that_differ():
    assert flatten(RUNS[0]["config"])["model.depth"] == 2
    assert varying_keys([r["config"] for r in RUNS]) == ["model.depth", "probes"]
    assert varying_keys([RUNS[1]["config"], RUNS[2]["config"]]) == []


def test_run_rows_show_links_and_rounded_metrics():
    rows = table_rows(RUNS, ["model.depth"], ["train_loss:last"])
    assert rows[0]["link"] == "[1](/runs/1)" and rows[0]["sweep"] == "[3](/sweeps/3)"
    assert rows[0]["train_loss:last"] == 0.123457 and rows[1]["train_loss:last"] is None
    assert rows[2]["sweep"] == "" and rows[0]["model.depth"] == 2


def test_run_page_draws_each_sides_losses_of_a_comparative_run():
    from dashboard.pages.run import default_keys

    logged = ["a/test_loss", "a/train_loss", "b/test_loss", "b/train_loss", "param_distance"]
    assert default_keys(logged, {"model_a": {}, "model_b": {}}) == \
        ["a/train_loss", "a/test_loss", "b/train_loss", "b/test_loss"]
    assert default_keys([], {"model_a": {}}) == ["a/train_loss", "a/test_loss"]
    assert default_keys(["test_loss", "train_loss", "x"], {"model_a": None, "model_b": None}) == \
        ["train_loss", "test_loss"]
    assert default_keys(["x", "y", "z"], {}) == ["x", "y"]


def test_a_comparative_sweep_opens_on_model_as_training_loss():
    from dashboard.pages.sweep import default_metric

    assert default_metric(["a/lr", "a/test_loss", "a/train_loss", "b/train_loss"]) == "a/train_loss"
    assert default_metric(["lr", "test_loss", "train_loss"]) == "train_loss"
    assert default_metric(["x"]) == "x" and default_metric([]) is None
