"""The README's terminal session and docs/client.md's notebook example, run as written (read from
the Markdown) against a fresh embedded system: a real API process and a real worker."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.live import LiveSystem

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def blocks(doc: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (ROOT / doc).read_text(), flags=re.S)


def block_with(doc: str, lang: str, needle: str) -> str:
    found = [b for b in blocks(doc, lang) if needle in b]
    assert len(found) == 1, f"{doc}: expected one ```{lang} block with {needle!r}"
    return found[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with LiveSystem(tmp_path_factory.mktemp("docs-home")) as system:
        yield system


@pytest.fixture(scope="module")
def shell_env(lab, tmp_path_factory):
    """A folder like the repository root (configs/) and a PATH on which `liplab` is this one."""
    cwd = tmp_path_factory.mktemp("docs-cwd")
    (cwd / "configs").symlink_to(ROOT / "configs")
    env = {**os.environ, "LIPLAB_URL": lab.url, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}
    return cwd, env


def test_readme_terminal_session_runs_as_written(shell_env):
    cwd, env = shell_env
    lines = [ln for ln in block_with("README.md", "bash", "liplab status").splitlines() if ln.strip()]
    assert len(lines) >= 9
    outputs = []
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert outputs[0].startswith("sweep 1: 2 runs")
    assert "lr-scan" in outputs[1] and "training.lr" in outputs[2]
    exported = pd.read_csv(cwd / "exports" / "sweep_1.csv")
    assert sorted(exported["training.lr"]) == [0.001, 0.01]
    assert set(pd.read_csv(cwd / "exports" / "sweep_1_history.csv").key) >= {"train_loss", "test_loss"}


def test_client_notebook_example_runs_as_written(shell_env):
    cwd, env = shell_env
    code = block_with("docs/client.md", "python", "load_sweep")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"sweep \d+: 4 runs", done.stdout) and "4 of 4" in done.stdout
