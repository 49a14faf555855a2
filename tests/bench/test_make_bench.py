"""`make bench` end to end at its smallest sizes: every family's table is produced and the
generated part of the doc is rewritten between its markers, the hand-written rest and the GPU
section kept. Figures are not checked (no timed tests: speed is bench/'s to report)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import load
from bench.run import CPU_BEGIN, CPU_END, FAMILIES, GPU_BEGIN, GPU_END, rewrite
from tests.services import pg_database, redis_database

ROOT = Path(__file__).resolve().parents[2]


def test_rewrite_replaces_only_between_the_markers(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written\n\n## GPU\n\nby the lead\n")
    rewrite(doc, CPU_BEGIN, CPU_END, "first\n", "## `make bench`")
    rewrite(doc, CPU_BEGIN, CPU_END, "second\n", "## `make bench`")
    text = doc.read_text()
    assert "second" in text and "first" not in text and text.count(CPU_BEGIN) == 1
    assert "hand-written" in text and "by the lead" in text and GPU_BEGIN not in text
    rewrite(doc, GPU_BEGIN, GPU_END, "h200\n", "## GPU")
    assert doc.read_text().index("h200") > doc.read_text().index("## GPU") > doc.read_text().index("second")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(900)
def test_every_family_produces_its_table(tmp_path):
    with pg_database(), redis_database():  # skips (or fails under CI) without the services
        pass
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written\n\n## GPU\n\nby the lead\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "LIPLAB_BENCH_PEERS": str(tmp_path / "no-peers" / "python")}  # peers: "not installed"
    out = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--doc", str(doc)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=880)
    assert out.returncode == 0, out.stderr[-3000:]
    text = doc.read_text()
    assert "hand-written" in text and "by the lead" in text
    generated = text[text.index(CPU_BEGIN):text.index(CPU_END)]
    for name in FAMILIES:
        assert f"### {name}" in generated, name
        section = generated[generated.index(f"### {name}"):]
        assert "not measured" not in section.split("### ")[1], (name, out.stderr[-3000:])
    assert "not installed" in generated  # the peers' venv was hidden: the tables say so
    for png in ("ingest", "overhead", "flossing", "layers"):
        assert (tmp_path / "benchmarks" / f"{png}.png").stat().st_size > 1000


def test_a_script_writes_loadable_tables(tmp_path):
    """The --json contract between a family's script and bench/run.py, on the fastest one."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "bench/layers.py", "--smoke", "--json", str(tmp_path / "t.json")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-2000:]
    (table,) = load(tmp_path / "t.json")
    assert table.family == "layers" and any(r[0] == "linear unconstrained" for r in table.rows)
    assert len({len(r) for r in table.rows}) == 1 and len(table.rows[0]) == len(table.columns)
