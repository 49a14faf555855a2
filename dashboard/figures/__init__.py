"""Figure builders: pure functions from API payloads (plain dicts and lists) to Plotly figures.

No I/O and no Dash here, so every builder is unit-tested without a browser or a server.
"""
from dashboard.figures.base import COLORWAY, base_layout, empty_figure
from dashboard.figures.compare import normalise_axes, overlay_figure, radar_figure
from dashboard.figures.curves import curves_figure, ema, lyapunov_figure, new_points
from dashboard.figures.health import queues_figure, status_counts_figure
from dashboard.figures.landscape import LANDSCAPE_FIGURES, landscape_figures
from dashboard.figures.sweep import grouped_figure, heatmap_figure, parallel_figure

__all__ = [
    "COLORWAY", "LANDSCAPE_FIGURES", "base_layout", "curves_figure", "ema", "empty_figure",
    "grouped_figure", "heatmap_figure", "landscape_figures", "lyapunov_figure", "new_points",
    "normalise_axes", "overlay_figure", "parallel_figure", "queues_figure", "radar_figure",
    "status_counts_figure",
]
