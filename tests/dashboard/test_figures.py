"""Figure builders as pure functions, against values worked out by hand or by numpy."""
from __future__ import annotations

import json
import math
from pathlib import Path

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


def test_one_key_on_both_axes_is_drawn_as_one_row():
    """A sweep over seeds alone: the grid of seed × seed is its diagonal, shown as one row."""
    grid = {"x": [0, 1, 2], "y": [0, 1, 2],
            "z": [[0.5, None, None], [None, 0.25, None], [None, None, 0.125]]}
    status = [[{"succeeded": 1}, None, None], [None, {"diverged": 1}, None],
              [None, None, {"succeeded": 1}]]
    fig = heatmap_figure(grid, status, metric="train_loss", agg="min", x_key="model.model_seed",
                         y_key="model.model_seed")
    heat = fig.data[0]
    assert [list(r) for r in heat.z] == [[0.5, 0.25, 0.125]] and list(heat.y) == ["train_loss"]
    assert {t.name: list(t.x) for t in fig.data[1:]} == {"succeeded": ["0", "2"], "failed": ["1"]}
    assert fig.layout.title.text == "min train_loss by model.model_seed"


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
    pooled = grouped_figure([{**group, "value": None}], None, "train_loss")
    assert pooled.data[1].name == "all runs (N≤5)" and "over all runs" in pooled.layout.title.text


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


PROBES = json.loads((Path(__file__).parent / "data" / "probe_results.json").read_text())


def test_every_probe_result_of_the_documented_shapes_becomes_figures_with_data():
    # real outputs of the probes branch (see the file's _provenance), not shapes made up here
    figs = landscape_figures(PROBES)
    names = [n for n, _ in figs]
    assert names == ["interpolation", "slice_1d", "slice_2d", "slice_2d", "hessian", "sharpness",
                     "sharpness", "connectivity", "pca", "lyapunov", "certified"]
    for name, fig in figs:
        assert fig.data and all(len(t.x if t.x is not None else t.z) for t in fig.data), name


def test_interpolation_puts_losses_left_and_accuracies_right():
    fig = landscape_figures({"interpolation": PROBES["interpolation"]})[0][1]
    axes = {t.name: t.yaxis for t in fig.data}
    assert axes["train_loss"] == "y" and axes["test_loss"] == "y"
    assert list(fig.data[0].x) == PROBES["interpolation"]["alpha"]


def test_slice_2d_surface_and_contour_keep_the_grid_orientation():
    r = {"alpha": [0, 1, 2], "beta": [10, 20], "loss": [[1, 2, 3], [4, 5, 6]]}  # loss[i][j] at (α_j, β_i)
    surface, contour = [f for _, f in landscape_figures({"slice_2d": r})]
    assert surface.data[0].type == "surface" and contour.data[0].type == "contour"
    assert list(contour.data[0].x) == [0, 1, 2] and list(contour.data[0].y) == [10, 20]
    assert [list(row) for row in contour.data[0].z] == r["loss"]


def test_hessian_stems_at_each_eigenvalue_over_the_density():
    r = PROBES["hessian"]
    fig = landscape_figures({"hessian": r})[0][1]
    density, stems, marks = fig.data
    assert list(density.x) == r["density"]["grid"] and list(marks.x) == r["eigenvalues"]
    assert list(stems.x) == [v for e in r["eigenvalues"] for v in (e, e, None)]
    assert f"{r['trace']:.4g}" in fig.layout.title.text


def test_sharpness_histograms_per_eps_and_the_curves():
    hist, curves = [f for _, f in landscape_figures({"sharpness": PROBES["sharpness"]})]
    assert [list(t.x) for t in hist.data] == PROBES["sharpness"]["random_samples"]
    assert [t.name for t in curves.data] == ["random mean", "random max", "ascent max"]


def test_connectivity_marks_each_paths_barrier_against_the_straight_line():
    # a hand-made path: endpoints 0.2 and 0.4, peak 1.0 at α = 0.5, the line there is 0.3
    r = {"linear": {"alpha": [0, 0.25, 0.5, 0.75, 1], "loss": [0.2, 0.6, 1.0, 0.5, 0.4],
                    "loss_barrier": {"vs_mean": 0.7, "vs_linear": 0.7}}}
    fig = landscape_figures({"connectivity": r})[0][1]
    curve, barrier = fig.data
    assert "vs_linear 0.7" in curve.name
    assert list(barrier.x) == [0.5, 0.5] and list(barrier.y) == pytest.approx([0.3, 1.0])
    real = landscape_figures({"connectivity": PROBES["connectivity"]})[0][1]
    assert {t.name.split(" ")[0] for t in real.data} == {"linear", "aligned", "bezier"}


def test_pca_draws_the_path_over_the_loss_grid():
    fig = landscape_figures({"pca": PROBES["pca"]})[0][1]
    contour, path, final = fig.data
    assert contour.type == "contour" and list(path.x) == PROBES["pca"]["path"]["a"]
    assert list(final.x) == PROBES["pca"]["path"]["a"][-1:]


def test_lyapunov_and_certified_probes():
    lyap = landscape_figures({"lyapunov": PROBES["lyapunov"]})[0][1]
    assert len(lyap.data) == len(PROBES["lyapunov"]["exponents"][0])
    assert list(lyap.data[1].y) == [row[1] for row in PROBES["lyapunov"]["exponents"]]
    cert = landscape_figures({"certified": PROBES["certified"]})[0][1]
    assert list(cert.data[0].y) == [0.9, 0.7, 0.2]


def test_landscape_tolerates_a_result_without_its_fields():
    (name, fig), = landscape_figures({"hessian": {"something": 1}})
    assert name == "hessian" and not fig.data and fig.layout.annotations


def test_measurement_probe_shows_each_phase_and_memory_in_mib():
    result = {"device": "cpu", "batch_size": 32,
              "time_s": {"forward": {"median": 0.002, "all": [0.001, 0.002, 0.004]},
                         "backward": {"median": 0.003, "all": [0.003, 0.003]}},
              "memory": {"peak_bytes": 3 * 2**20, "param_bytes": 2**20, "method": "cpu_rss_sampled"}}
    (_, box), (_, bars) = landscape_figures({"measurement": result})
    assert [t.name for t in box.data] == ["forward", "backward"]
    assert list(box.data[0].y) == [0.001, 0.002, 0.004]
    assert list(bars.data[0].x) == ["peak_bytes", "param_bytes"] and list(bars.data[0].y) == [3, 1]
    assert "cpu_rss_sampled" in bars.layout.title.text
