"""Figure builders as pure functions, against values worked out by hand or by numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.figures import (COLORWAY, curves_figure, ema, grouped_figure, heatmap_figure,
                               landscape_figures, lyapunov_figure, new_points, normalise_axes,
                               overlay_figure, parallel_figure, queues_figure, radar_figure)
from dashboard.figures.compare import smaller_is_better
from dashboard.figures.sweep import cell_outcome


def test_colourway_starts_black_red_blue_brown_purple_green():
    # seed 002: black → red → blue → brown → purple → green
    assert COLORWAY[:6] == ["#000000", "#d62728", "#1f77b4", "#8c564b", "#9467bd", "#2ca02c"]
    fig = curves_figure({"a": {"step": [0, 1], "value": [1.0, 2.0]}})
    assert list(fig.layout.colorway[:6]) == COLORWAY[:6]


def test_ema_matches_the_recursion_and_continues_across_calls():
    v = [1.0, 3.0, 2.0, 10.0, 4.0]
    a = 0.6
    want, s = [], None
    for x in v:
        s = x if s is None else a * s + (1 - a) * x
        want.append(s)
    assert ema(v, a) == pytest.approx(want)
    assert ema(v[:2], a) + ema(v[2:], a, last=ema(v[:2], a)[-1]) == pytest.approx(want)
    assert ema(v, 0) == v
    # pandas' ewm(alpha=1-a, adjust=False) is the same filter: an independent formula
    w = np.array(v)
    ref = [w[0]]
    for x in w[1:]:
        ref.append((1 - (1 - a)) * ref[-1] + (1 - a) * x)
    assert ema(v, a) == pytest.approx(ref)


def test_ema_skips_missing_values_and_rejects_bad_smoothing():
    assert ema([1.0, None, float("nan"), 3.0], 0.5) == [1.0, None, None, 2.0]
    with pytest.raises(ValueError, match="smoothing"):
        ema([1.0], 1.0)


def test_curves_are_webgl_lines_in_the_order_asked_and_log_scale():
    series = {"train_loss": {"step": [0, 1, 2], "value": [3.0, 2.0, 1.0]},
              "test_loss": {"step": [0, 2], "value": [4.0, 2.5]}}
    fig = curves_figure(series, ["test_loss", "train_loss", "absent"], log_y=True)
    assert [t.type for t in fig.data] == ["scattergl", "scattergl"]
    assert [t.name for t in fig.data] == ["test_loss", "train_loss"]
    assert list(fig.data[1].y) == [3.0, 2.0, 1.0]
    assert fig.layout.yaxis.type == "log"
    smooth = curves_figure(series, ["train_loss"], smoothing=0.5)
    assert list(smooth.data[0].y) == [3.0, 2.5, 1.75]
    assert not curves_figure({}, ["x"]).data


def test_new_points_keeps_only_steps_past_each_keys_last():
    series = {"a": {"step": [3, 4, 5], "value": [1, 2, 3]}, "b": {"step": [4, 5], "value": [7, 8]},
              "c": {"step": [1], "value": [0]}}
    out = new_points(series, {"a": 4, "b": 5})
    assert out == {"a": {"step": [5], "value": [3]}, "c": {"step": [1], "value": [0]}}


def test_lyapunov_spectrum_stems_in_index_order():
    summary = {"lyapunov/10": {"last": -2.0}, "lyapunov/2": {"last": 0.5},
               "lyapunov/0": {"last": 1.5}, "train_loss": {"last": 0.1}}
    fig = lyapunov_figure(summary)
    markers = fig.data[1]
    assert list(markers.x) == [0, 2, 10] and list(markers.y) == [1.5, 0.5, -2.0]
    assert not lyapunov_figure({"train_loss": {"last": 1}}).data


@pytest.mark.parametrize("counts,outcome", [
    ({"succeeded": 3}, "succeeded"), ({"failed": 1, "diverged": 2}, "failed"),
    ({"succeeded": 1, "diverged": 1}, "mixed"), ({"queued": 2}, "pending"),
    ({"succeeded": 1, "running": 1}, "mixed"), (None, None), ({}, None)])
def test_cell_outcome(counts, outcome):
    assert cell_outcome(counts) == outcome


def test_heatmap_puts_z_on_category_axes_and_marks_each_cells_outcome():
    grid = {"x": [16, 32], "y": [1, 2, 4], "z": [[0.1, 0.2], [None, 0.4], [1.0, 100.0]]}
    status = [[{"succeeded": 1}, {"succeeded": 1}], [{"diverged": 1}, {"succeeded": 2}],
              [{"succeeded": 1, "failed": 1}, None]]
    fig = heatmap_figure(grid, status, metric="train_loss", agg="min", x_key="model.width",
                         y_key="model.depth")
    heat = fig.data[0]
    assert heat.type == "heatmap" and list(heat.x) == ["16", "32"] and list(heat.y) == ["1", "2", "4"]
    assert [list(r) for r in heat.z] == grid["z"]
    marks = {t.name: list(zip(t.x, t.y)) for t in fig.data[1:]}
    assert marks == {"succeeded": [("16", "1"), ("32", "1"), ("32", "2")], "failed": [("16", "2")],
                     "mixed": [("16", "4")]}
    logged = heatmap_figure(grid, None, log_z=True)
    assert logged.data[0].z[2][1] == pytest.approx(2.0) and logged.data[0].z[1][0] is None
    assert list(logged.data[0].customdata[2]) == [1.0, 100.0]  # hover shows the raw value


def test_grouped_band_is_mean_plus_minus_std_or_stderr_from_numpy():
    rng = np.random.default_rng(0)
    runs = rng.normal(size=(5, 4))  # 5 runs, 4 steps
    mean, std = runs.mean(0), runs.std(0, ddof=1)
    stderr = std / math.sqrt(5)
    group = {"value": 2, "step": [0, 1, 2, 3], "mean": mean.tolist(), "std": std.tolist(),
             "stderr": stderr.tolist(), "n": [5, 5, 5, 5]}
    for band, width in (("std", std), ("stderr", stderr)):
        fig = grouped_figure([group], "model.depth", "train_loss", band=band)
        ribbon, line = fig.data
        assert list(ribbon.y[:4]) == pytest.approx((mean + width).tolist())
        assert list(ribbon.y[4:]) == pytest.approx((mean - width)[::-1].tolist())
        assert list(line.y) == pytest.approx(mean.tolist()) and list(line.customdata) == [5] * 4
        assert "N≤5" in line.name
    with pytest.raises(ValueError, match="band"):
        grouped_figure([group], "k", "m", band="iqr")


def test_parallel_coordinates_encode_categories_and_drop_runs_without_the_metric():
    rows = [{"params": {"model.layer": "aol", "training.lr": 0.1}, "value": 0.5},
            {"params": {"model.layer": "cpl", "training.lr": 0.01}, "value": 0.2},
            {"params": {"model.layer": "aol", "training.lr": 0.01}, "value": None}]
    fig = parallel_figure(rows, ["model.layer", "training.lr"], "train_loss")
    dims = fig.data[0].dimensions
    assert list(dims[0].values) == [0, 1] and list(dims[0].ticktext) == ["aol", "cpl"]
    assert list(dims[1].values) == [0.1, 0.01] and list(dims[2].values) == [0.5, 0.2]


def test_radar_axes_are_larger_is_better_relative_to_the_best_run():
    # seed 004's figure: accuracy up, time and memory down; every axis scaled so the best is 1.
    values = {"AOL": {"test_acc": 0.734, "time/batch_s": 0.02, "memory/peak_bytes": 100.0},
              "SOC": {"test_acc": 0.769, "time/batch_s": 0.08, "memory/peak_bytes": 400.0},
              "CPL": {"test_acc": 0.767, "time/batch_s": 0.04, "memory/peak_bytes": None}}
    axes = ["test_acc", "time/batch_s", "memory/peak_bytes"]
    s = normalise_axes(values, axes)
    assert s["SOC"]["test_acc"] == 1.0 and s["AOL"]["test_acc"] == pytest.approx(0.734 / 0.769)
    assert s["AOL"]["time/batch_s"] == 1.0 and s["SOC"]["time/batch_s"] == pytest.approx(0.25)
    assert s["CPL"]["time/batch_s"] == pytest.approx(0.5)
    assert s["SOC"]["memory/peak_bytes"] == pytest.approx(0.25) and s["CPL"]["memory/peak_bytes"] is None
    fig = radar_figure(values, axes)
    soc = next(t for t in fig.data if t.name == "SOC")
    assert list(soc.theta) == axes + axes[:1] and list(soc.r) == pytest.approx([1, 0.25, 0.25, 1])
    assert smaller_is_better("train_loss") and not smaller_is_better("certified_acc/0.14")


def test_overlay_has_one_trace_per_run():
    fig = overlay_figure({"a": {"step": [0, 1], "value": [1, 2]}, "b": {"step": [0], "value": [3]},
                          "empty": None}, "train_loss")
    assert [t.name for t in fig.data] == ["a", "b"]


def test_queue_bars_keep_zero_lengths():
    fig = queues_figure({"gpu": 0, "cpu": 3})
    assert list(fig.data[0].x) == ["cpu", "gpu"] and list(fig.data[0].y) == [3, 0]


def test_landscape_figures_for_each_probe():
    alpha = [0.0, 0.5, 1.0]
    probes = {
        "interpolation": {"alpha": alpha, "loss": [1.0, 0.7, 0.2], "acc": [0.1, 0.5, 0.9]},
        "slice_1d": {"alpha": alpha, "loss": [[1, 0, 1], [2, 0, 2]]},
        "slice_2d": {"alpha": alpha, "beta": alpha, "loss": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]},
        "hessian": {"eigenvalues": [5.0, 2.0, -0.5], "trace": 7.5,
                    "density": {"grid": [-1, 0, 1, 5], "density": [0.1, 0.5, 0.3, 0.1]}},
        "sharpness": {"samples": [0.01, 0.02, 0.05], "sharpness": 0.05},
        "connectivity": {"alpha": [0, 0.25, 0.5, 0.75, 1], "loss": [0.1, 0.5, 0.9, 0.4, 0.3],
                         "barrier": {"loss_vs_linear": 0.7}},
        "pca": {"path": {"x": [3, 1, 0], "y": [2, 1, 0]},
                "grid": {"x": alpha, "y": alpha, "loss": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}},
        "certified": {"eps": [0.1]},
    }
    figs = landscape_figures(probes)
    names = [n for n, _ in figs]
    assert names == ["interpolation", "slice_1d", "slice_2d", "slice_2d", "hessian", "sharpness",
                     "connectivity", "pca"]
    for name, fig in figs:
        assert fig.data, name
    by = dict(figs)
    interp = by["interpolation"]
    assert [t.yaxis for t in interp.data] == ["y", "y2"]  # accuracy on the right axis
    assert len(by["slice_1d"].data) == 2
    assert {t.type for _, t in [(n, f.data[0]) for n, f in figs if n == "slice_2d"]} == {"surface", "contour"}
    hess = by["hessian"]
    assert list(hess.data[-1].x) == [5.0, 2.0, -0.5] and "7.5" in hess.layout.title.text
    # the barrier segment: from the straight line between the endpoints up to the curve's peak
    conn = by["connectivity"]
    barrier = next(t for t in conn.data if t.name == "barrier")
    assert list(barrier.x) == [0.5, 0.5] and list(barrier.y) == pytest.approx([0.2, 0.9])
    assert "0.7" in conn.layout.title.text
    pca = by["pca"]
    assert pca.data[0].type == "contour" and list(pca.data[1].x) == [3, 1, 0]


def test_landscape_tolerates_a_result_without_its_fields():
    (name, fig), = landscape_figures({"hessian": {"something": 1}})
    assert name == "hessian" and not fig.data and fig.layout.annotations
