"""Readable figures: the palette checked under simulated colour blindness, and every figure
titled with labelled axes.

The simulation is Machado, Oliveira & Fernandes (2009), severity 1, on linear RGB; distances are
CIELAB ΔE76 (D65). Two colours closer than CLOSE after simulation must differ in line dash.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from dashboard.figures import (COLORWAY, curves_figure, grouped_figure, heatmap_figure, landscape_figures,
                               lyapunov_figure, overlay_figure, parallel_figure, queues_figure, radar_figure)
from dashboard.figures.base import DASHES
from dashboard.figures.health import status_counts_figure

MACHADO = {
    "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
    "none": np.eye(3).tolist(),
}
CLOSE = 12.0


def linear_rgb(colour: str) -> np.ndarray:
    c = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ np.clip(rgb, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(colour: str, kind: str) -> np.ndarray:
    return lab(np.array(MACHADO[kind]) @ linear_rgb(colour))


def delta_e(a: str, b: str, kind: str) -> float:
    return float(np.linalg.norm(seen(a, kind) - seen(b, kind)))


def test_the_simulation_reproduces_known_confusions():
    # the oracle: white/black stay apart for everyone; pure red and green, far apart in normal
    # vision, collapse for a deuteranope; blue and yellow collapse for a tritanope only
    assert delta_e("#ffffff", "#000000", "deutan") == pytest.approx(100, abs=0.5)
    assert delta_e("#d62728", "#2ca02c", "none") > 80 and delta_e("#d62728", "#2ca02c", "deutan") < 12
    assert delta_e("#1f77b4", "#ff7f0e", "deutan") > 40


@pytest.mark.parametrize("kind", ["protan", "deutan", "tritan"])
def test_colours_hard_to_tell_apart_differ_in_dash(kind):
    close = [(i, j, round(delta_e(a, b, kind), 1)) for (i, a), (j, b) in itertools.combinations(enumerate(COLORWAY), 2)
             if delta_e(a, b, kind) < CLOSE]
    assert all(DASHES[i] != DASHES[j] for i, j, _ in close), close
    # and the first two lines (black, red) are told apart by lightness alone
    assert delta_e(COLORWAY[0], COLORWAY[1], kind) > 25


def test_lines_carry_the_palette_colour_and_dash():
    fig = overlay_figure({f"r{i}": {"step": [0, 1], "value": [1.0, 2.0]} for i in range(6)}, "loss")
    assert [(t.line.color, t.line.dash) for t in fig.data] == list(zip(COLORWAY[:6], DASHES[:6]))


SAMPLE = json.loads((Path(__file__).parent / "data" / "probe_results.json").read_text())
SAMPLE.pop("_provenance")
SERIES = {"train_loss": {"step": [0, 1], "value": [1.0, 0.5]}, "test_acc": {"step": [0, 1], "value": [0.1, 0.5]}}
GROUP = {"value": 2, "step": [0, 1], "mean": [1.0, 0.5], "std": [0.1, 0.1], "stderr": [0.05, 0.05], "n": [2, 2]}


def every_figure():
    yield "curves", curves_figure(SERIES)
    yield "one curve", curves_figure(SERIES, ["train_loss"])
    yield "lyapunov", lyapunov_figure({"lyapunov/0": {"last": 0.1}, "lyapunov/1": {"last": -0.2}})
    yield "overlay", overlay_figure({"a": SERIES["train_loss"]}, "train_loss")
    yield "grouped", grouped_figure([GROUP], "model.depth", "train_loss")
    yield "heatmap", heatmap_figure({"x": [1, 2], "y": [3], "z": [[0.1, 0.2]]}, None, "train_loss", "min",
                                    "model.width", "model.depth")
    yield "queues", queues_figure({"gpu": 1})
    yield "status", status_counts_figure({"succeeded": 2})
    yield from landscape_figures(SAMPLE)


@pytest.mark.parametrize("name,fig", list(every_figure()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_figure_has_a_title_and_labelled_axes(name, fig):
    layout = fig.layout
    assert layout.title.text, name
    if any(t.type == "surface" for t in fig.data):
        assert layout.scene.xaxis.title.text and layout.scene.zaxis.title.text, name
        return
    assert layout.xaxis.title.text and layout.yaxis.title.text, (name, layout.xaxis.title.text, layout.yaxis.title.text)


def test_figures_without_cartesian_axes_are_titled():
    assert radar_figure({"a": {"x": 1.0, "y": 2.0, "z": 3.0}}, ["x", "y", "z"]).layout.title.text
    rows = [{"params": {"k": 1}, "value": 0.5}, {"params": {"k": 2}, "value": 0.2}]
    assert parallel_figure(rows, ["k"], "train_loss").layout.title.text
