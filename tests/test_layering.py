"""The import boundaries of the architecture (STYLE.md), checked in fresh interpreters."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("entry", ["server.main", "dashboard.app", "lipcore.config", "lipcore.sweep",
                                   "liplab.submit", "liplab.client", "liplab.verbs", "liplab.report"])
def test_no_torch_behind(entry):
    loaded = modules_after(f"import {entry}")
    assert "torch" not in loaded, f"importing {entry} imports torch"


@pytest.mark.parametrize("entry", ["server.main", "dashboard.app", "liplab.client", "worker.tasks"])
def test_pandas_only_for_the_clients_frames(entry):
    assert "pandas" not in modules_after(f"import {entry}"), f"importing {entry} imports pandas"


def test_server_never_imports_worker_code():
    assert not {m for m in modules_after("import server.main") if m.split(".")[0] == "worker"}


def test_lipcore_imports_no_web_db_or_queue_package():
    loaded = modules_after("import lipcore, lipcore.experiment, lipcore.local, lipcore.probes")
    banned = {"fastapi", "sqlalchemy", "celery", "dash", "server", "worker", "dashboard", "httpx"}
    assert not {m.split(".")[0] for m in loaded} & banned


def test_lipcore_source_names_no_other_package():
    banned = {"server", "worker", "dashboard", "liplab", "fastapi", "sqlalchemy", "celery", "dash"}
    for path in (ROOT / "lipcore").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path} imports {name}"


def test_dashboard_talks_to_the_api_not_the_store():
    banned = {"server", "worker", "sqlalchemy", "lipcore.experiment", "torch"}
    for path in (ROOT / "dashboard").rglob("*.py"):
        text = path.read_text()
        for name in banned:
            assert f"import {name}" not in text and f"from {name} " not in text, f"{path}: {name}"
