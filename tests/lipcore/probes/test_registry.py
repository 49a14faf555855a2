"""Every probe: parameters declared torch-free, defaults filled, results written idempotently."""
import inspect
import json

import pytest

from lipcore.config.probes import PROBE_PARAMS, check_probe_params
from lipcore.probes import PROBES, run_probes
from lipcore.reporting import ListReporter
from tests.lipcore.probes.helpers import blobs, context, mlp


@pytest.mark.parametrize("name", PROBES.names())
def test_probe_keyword_arguments_equal_declared_params(name):
    sig = inspect.signature(PROBES[name])
    kwargs = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in kwargs] == list(PROBE_PARAMS[name]), name
    assert all(p.default is p.empty for p in kwargs)  # defaults live in PROBE_PARAMS only
    assert PROBES[name].__doc__


def test_declared_params_cover_exactly_the_registry():
    assert sorted(PROBE_PARAMS) == PROBES.names()


def test_bad_probe_params_name_the_key():
    with pytest.raises(ValueError, match="probes.hessian.kk: unknown parameter"):
        check_probe_params("hessian", {"kk": 3})
    with pytest.raises(ValueError, match="probes.hessian.k: must be >= 1"):
        check_probe_params("hessian", {"k": 0})
    with pytest.raises(ValueError, match="probes.sharpness.eps: must be a non-empty list"):
        check_probe_params("sharpness", {"eps": ["a"]})
    with pytest.raises(ValueError, match="probes.name: unknown probe 'nope'"):
        check_probe_params("nope", {})
    assert check_probe_params("hessian", {"k": 2})["trace_samples"] == 50


def test_run_probes_writes_json_logs_metrics_and_skips_existing(tmp_path):
    data = blobs(n=32)
    ctx = context(mlp([2, 4, 2]), data)
    rep = ListReporter()
    specs = [{"name": "hessian", "k": 1, "trace_samples": 3, "density_vectors": 0},
             {"name": "certified", "label": "cra", "eps": [0.0]}]
    out = run_probes(specs, ctx, rep, tmp_path)
    stored = json.loads((tmp_path / "probes" / "hessian.json").read_text())
    assert stored == out["hessian"]
    assert (tmp_path / "probes" / "cra.json").exists()
    assert rep.series("hessian/trace") == [out["hessian"]["trace"]]
    assert [a[0] for a in rep.artifacts] == ["hessian", "cra"]
    # a second pass reads the files back instead of recomputing
    (tmp_path / "probes" / "hessian.json").write_text(json.dumps({"marker": 1}))
    again = run_probes(specs, ctx, ListReporter(), tmp_path)
    assert again["hessian"] == {"marker": 1}
    fresh = run_probes(specs[:1], ctx, None, tmp_path, skip_existing=False)
    assert "eigenvalues" in fresh["hessian"]


def test_a_failing_probe_writes_nothing(tmp_path):
    ctx = context(mlp([2, 4, 2]), blobs(n=8))
    with pytest.raises(ValueError, match="no checkpoint"):
        run_probes([{"name": "pca"}], ctx, ListReporter(), tmp_path)
    assert not (tmp_path / "probes" / "pca.json").exists()


def test_a_plugin_probe_without_declared_params_gets_its_params_as_given(monkeypatch):
    from lipcore.probes import run_probe

    monkeypatch.setitem(PROBES._entries, "n_params", lambda ctx, scale=1: {
        "value": scale * sum(p.numel() for p in ctx.model.parameters())})
    assert run_probe("n_params", context(mlp([2, 3, 2]), blobs(n=4)), scale=2) == {"value": 34}


def test_probe_list_issues_name_each_entry_and_key():
    import subprocess
    import sys

    from lipcore.config.probes import probe_list_issues

    issues = probe_list_issues([{"name": "hessian", "k": 0, "kk": 1}, {"name": "nope"}, "x",
                                {"name": "pca", "n_points": 5}])
    assert issues[0] == ("probes.0.k", "must be >= 1, got 0")
    assert issues[1] == ("probes.0.kk", "unknown parameter; allowed: " + ", ".join(
        PROBE_PARAMS["hessian"]))
    assert issues[2][0] == "probes.1.name" and "unknown probe 'nope'" in issues[2][1]
    assert issues[3] == ("probes.2", "must be a mapping with a 'name'")
    assert len(issues) == 4
    code = "import lipcore.config.probes, sys; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0  # server-safe


def test_probe_metrics_are_logged_at_the_trained_models_step():
    model = mlp([2, 4, 2])
    final = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = context(model, blobs(n=16), checkpoints=[(0, final), (120, final)])
    rep = ListReporter()
    run_probes([{"name": "certified", "eps": [0.0]}], ctx, rep)
    assert rep.steps("certified_acc/0") == [120]
