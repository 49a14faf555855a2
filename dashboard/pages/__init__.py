"""Dash pages, one module per screen; `register_all` imports them after the app exists.

Order matters: Dash routes a path to the first page whose template matches, and
"/runs/<run_id>" would also match "/runs/7/landscape".
"""
import importlib
import sys

PAGES = ["runs", "landscape", "run", "sweeps", "sweep", "compare", "submit", "workers"]


def register_all() -> None:
    """Register every page; a second app in the same process re-imports the modules, because
    Dash hands the global `@callback`s to the first app that starts and forgets them."""
    for name in PAGES:
        module = sys.modules.get(f"dashboard.pages.{name}")
        module = importlib.reload(module) if module else importlib.import_module(f"dashboard.pages.{name}")
        module.register()
