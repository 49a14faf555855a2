"""A study's report on its sweep page: the Markdown `liplab study --wait` wrote, with its
figures, served from the dashboard's reports folder.

The folder is LIPLAB_REPORTS_DIR, by default `docs/results` under the dashboard's working
directory (where `liplab study` writes). `/reports/<study>/…` serves its files (the Markdown
for download, the figures for the page); relative links in the Markdown are rewritten to it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Flask, abort, send_from_directory

from dashboard.sweeps_view import STUDY_NAME

_LINK = re.compile(r"(!?\[[^\]]*\]\()(?![a-z]+:|/|#)([^)\s]+)\)")


def reports_dir() -> Path:
    return Path(os.environ.get("LIPLAB_REPORTS_DIR", "docs/results"))


def served_markdown(text: str, study: str) -> str:
    """Relative image and link targets → `/reports/<study>/<target>`; absolute ones unchanged."""
    return _LINK.sub(lambda m: f"{m.group(1)}/reports/{study}/{m.group(2)})", text)


def register(server: Flask) -> None:
    @server.route("/reports/<study>/<path:name>")
    def report_file(study: str, name: str):  # noqa: ANN202
        if not STUDY_NAME.match(study):
            abort(404)
        return send_from_directory(reports_dir().resolve() / study, name)  # refuses paths outside
