"""Sweep rows, study names and report links, on hand-made sweeps."""
from __future__ import annotations

from dashboard import sweeps_view
from dashboard.reports import served_markdown


def test_a_study_is_named_after_its_file():
    assert sweeps_view.study_of("003_landscape") == "003_landscape"
    assert sweeps_view.study_of("003_landscape scale=2 training.epochs=3") == "003_landscape"
    assert sweeps_view.study_of("grid") is None and sweeps_view.study_of("03_x") is None
    assert sweeps_view.study_of("003landscape") is None


def test_best_is_the_lowest_loss_or_the_highest_accuracy():
    assert sweeps_view.best_order("test_loss") == {"order_by": "test_loss", "order_stat": "min"}
    assert sweeps_view.best_order("test_acc") == {"order_by": "-test_acc", "order_stat": "max"}
    run = {"id": 9, "summary": {"test_acc": {"min": 0.1, "max": 0.97, "last": 0.9}}}
    row = sweeps_view.sweep_row({"id": 2, "name": "001_deep_linear", "n_runs": 3,
                                 "counts": {"succeeded": 2, "failed": 1}, "created_at": "2026-12-01T10:00:00Z"},
                                run, "test_acc")
    assert row["best"] == 0.97 and row["best_run"] == "[9](/runs/9)" and row["study"] == "001_deep_linear"
    assert row["counts"] == "1 failed, 2 succeeded" and row["created"] == "2026-12-01 10:00:00"
    assert sweeps_view.sweep_row({"id": 3, "name": "g"}, None, "test_acc")["best"] is None


def test_report_links_point_into_the_served_folder(tmp_path):
    text = "![loss](figures/01_curves.png) [all](report/summary.md) [web](https://x.org/a.png) [top](#t)"
    assert served_markdown(text, "001_deep_linear") == (
        "![loss](/reports/001_deep_linear/figures/01_curves.png) "
        "[all](/reports/001_deep_linear/report/summary.md) [web](https://x.org/a.png) [top](#t)")
    assert sweeps_view.report_file(tmp_path, "001_deep_linear") is None
    (tmp_path / "001_deep_linear").mkdir()
    (tmp_path / "001_deep_linear" / "study.md").write_text("# x")
    assert sweeps_view.report_file(tmp_path, "001_deep_linear").name == "study.md"


def test_a_sweep_opens_on_the_keys_that_change_the_experiment_before_its_seeds():
    assert sweeps_view.axes(["model.model_seed", "model.width"]) == (
        "model.width", "model.model_seed", "model.width")
    assert sweeps_view.axes(["training.lr", "model.depth"]) == ("training.lr", "model.depth", "training.lr")
    # only seeds: the curves pool every run (mean ± band across the seeds)
    assert sweeps_view.axes(["model.model_seed", "training.batch_seed"]) == (
        "model.model_seed", "training.batch_seed", sweeps_view.ALL_RUNS)
    assert sweeps_view.axes(["data.data_seed"])[2] == sweeps_view.ALL_RUNS
    assert sweeps_view.axes([]) == (None, None, sweeps_view.ALL_RUNS)
    assert not sweeps_view.is_seed("model.seeded") and sweeps_view.is_seed("flossing.seed")


def test_the_pooled_group_is_offered_first():
    options = sweeps_view.group_options(["model.width"])
    assert [o["value"] for o in options] == [sweeps_view.ALL_RUNS, "model.width"]
