"""Dash pages, one module per screen; `register_all` imports them after the app exists.

Order matters: Dash routes a path to the first page whose template matches, and
"/runs/<run_id>" would also match "/runs/7/landscape".
"""
import importlib

PAGES = ["runs", "landscape", "run", "sweep", "compare", "submit", "workers"]


def register_all() -> None:
    for name in PAGES:
        importlib.import_module(f"dashboard.pages.{name}").register()
