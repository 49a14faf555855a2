"""Probes standalone on saved run directories, and the errors that protect a run's data."""
import hashlib
import json

import pytest
import torch
import yaml

from lipcore.config import validate
from lipcore.data import build_dataset
from lipcore.models import build_model
from lipcore.saved import load_run, probe_saved_run, read_checkpoints


def make_run(root, name, width=8, steps=(0, 5, 10), checkpoints=True, seed=0):
    """A run directory as `liplab run` writes it: config, metrics, step_<n>.pt checkpoints."""
    cfg = validate({"name": name, "data": {"name": "sine", "n_train": 32, "n_test": 16},
                    "model": {"name": "mlp", "width": width, "depth": 1, "model_seed": seed}})
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    data = build_dataset(cfg["data"])
    model = build_model(cfg["model"], data)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    lines = []
    for step in range(max(steps) + 1):
        if checkpoints and step in steps:
            torch.save({"step": step, "model": model.state_dict(), "rng": torch.get_rng_state()},
                       run / "checkpoints" / f"step_{step:08d}.pt")
        loss = torch.nn.functional.mse_loss(model(data.x_train), data.y_train)
        lines.append(json.dumps({"step": step, "train_loss": float(loss)}))
        opt.zero_grad()
        loss.backward()
        opt.step()
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def digest(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_load_run_rebuilds_the_final_model(tmp_path):
    run = make_run(tmp_path, "a")
    saved = load_run(run)
    assert [s for s, _ in saved.checkpoints] == [0, 5, 10]
    final = torch.load(run / "checkpoints" / "step_00000010.pt")["model"]
    for k, v in saved.model.state_dict().items():
        assert torch.equal(v, final[k])
    assert saved.metrics["train_loss"]["step"][:3] == [0, 1, 2]
    assert len(read_checkpoints(run / "checkpoints" / "step_00000005.pt")) == 1


def test_probes_on_a_saved_run_write_results_and_resume(tmp_path):
    run = make_run(tmp_path, "a")
    specs = [{"name": "interpolation", "n_points": 3, "alpha_min": 0.0, "alpha_max": 1.0},
             {"name": "pca", "n_points": 3}]
    out = probe_saved_run(run, specs)
    assert json.loads((run / "probes" / "interpolation.json").read_text()) == out["interpolation"]
    assert out["pca"]["steps"] == [0, 5, 10]
    first = (run / "probes" / "pca.json").stat().st_mtime_ns
    probe_saved_run(run, specs)
    assert (run / "probes" / "pca.json").stat().st_mtime_ns == first  # skipped, not recomputed


def test_a_run_without_checkpoints_is_a_clear_error_and_stays_untouched(tmp_path):
    run = make_run(tmp_path, "bare", checkpoints=False)
    before = digest(run)
    with pytest.raises(ValueError, match="has no checkpoint"):
        probe_saved_run(run, [{"name": "hessian"}])
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        probe_saved_run(run, [])
    assert digest(run) == before


def test_connectivity_between_saved_runs(tmp_path):
    a, b = make_run(tmp_path, "a", seed=0), make_run(tmp_path, "b", seed=1)
    out = probe_saved_run(a, [{"name": "connectivity", "other": str(b), "n_points": 5}])
    c = out["connectivity"]
    assert len(c["linear"]["loss"]) == 5 and "aligned" in c
    assert set(c["linear"]["loss_barrier"]) == {"vs_mean", "vs_linear"}


def test_connectivity_between_different_architectures_leaves_both_runs_untouched(tmp_path):
    a, b = make_run(tmp_path, "a", width=8), make_run(tmp_path, "b", width=16)
    before = digest(tmp_path)
    with pytest.raises(ValueError, match="different architectures"):
        probe_saved_run(a, [{"name": "connectivity", "other": str(b)}])
    assert digest(tmp_path) == before


def test_missing_step0_checkpoint_is_rebuilt_from_the_model_seed(tmp_path):
    run = make_run(tmp_path, "late", steps=(5, 10))
    saved = load_run(run)
    assert [s for s, _ in saved.checkpoints] == [5, 10]
    cfg = saved.config
    data = build_dataset(cfg["data"])
    fresh = build_model(cfg["model"], data)
    with torch.no_grad():
        init_loss = float(torch.nn.functional.mse_loss(fresh(data.x_train), data.y_train))
    out = probe_saved_run(run, [{"name": "interpolation", "n_points": 2, "alpha_min": 0.0,
                                 "alpha_max": 1.0}])
    assert out["interpolation"]["start_step"] == 0 and out["interpolation"]["end_step"] == 10
    assert out["interpolation"]["train_loss"][0] == pytest.approx(init_loss, rel=1e-6)


def test_landscape_moons_preset_lists_valid_probes():
    from pathlib import Path

    from lipcore.config.probes import check_probe_params

    cfg = yaml.safe_load((Path(__file__).parents[3] / "configs" / "landscape_moons.yaml")
                         .read_text())
    names = [p["name"] for p in cfg["probes"]]
    assert {"interpolation", "slice_1d", "slice_2d", "hessian", "sharpness", "pca"} <= set(names)
    for spec in cfg["probes"]:
        check_probe_params(spec["name"], {k: v for k, v in spec.items() if k != "name"})


def test_probe_saved_run_takes_the_config_from_the_caller(tmp_path):
    run = make_run(tmp_path, "db")
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").unlink()  # the worker keeps configs in the database, not the folder
    out = probe_saved_run(run, [{"name": "slice_1d", "n_points": 3}], config=config)
    assert len(out["slice_1d"]["loss"]) == 3 and (run / "probes" / "slice_1d.json").exists()
    with pytest.raises(ValueError, match="no config.yaml"):
        probe_saved_run(run, [{"name": "slice_1d"}], skip_existing=False)
