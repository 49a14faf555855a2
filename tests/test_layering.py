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


def lipcore_modules() -> dict[str, Path]:
    """Dotted name → file of every lipcore module (a package by its __init__)."""
    out = {}
    for path in sorted((ROOT / "lipcore").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module → the lipcore modules it imports anywhere in its source (top level, inside
    functions, under TYPE_CHECKING): a lazy import still ties the two modules together."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {known(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for a in node.names:  # `from pkg import module` names the module itself
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base))
        graph[name] = {d for d in deps if d and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_lazy_and_relative_imports():
    graph = import_graph(lipcore_modules())
    assert "lipcore.training.blockwise" in graph["lipcore.training.loop"]  # imported in a method
    assert "lipcore.probes.certified" in graph["lipcore.probes"]  # `from pkg import module`


def test_lipcore_has_no_import_cycle():
    found = cycles(import_graph(lipcore_modules()))
    assert not found, "import cycles in lipcore (move the shared piece down): " + "; ".join(
        " ↔ ".join(c) for c in found)


def test_each_lipcore_module_imports_on_its_own():
    """Every module imports as the first lipcore module loaded (no order dependence): one fresh
    interpreter, and before each import every lipcore module is dropped from `sys.modules`
    (third-party packages such as torch stay loaded, so the check stays fast)."""
    code = ("import importlib, sys, traceback\n"
            "bad = []\n"
            "for name in sys.argv[1:]:\n"
            "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'lipcore']:\n"
            "        del sys.modules[loaded]\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception:\n"
            "        bad.append(name + ': ' + traceback.format_exc().strip().splitlines()[-1])\n"
            "print('\\n'.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code, *sorted(lipcore_modules())],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    assert not out, out
