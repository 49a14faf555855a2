"""Dash pages, one module per screen; `register_all` imports them after the app exists."""
import importlib

PAGES = ["dashboard.pages.runs", "dashboard.pages.run"]


def register_all() -> None:
    for name in PAGES:
        module = importlib.import_module(name)
        module.register()
