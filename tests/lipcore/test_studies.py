"""Study files (`configs/studies/`): each validates and expands to the run count its header
states; the `sweep:` section is checked key by key; overrides, zip selection and `--scale`;
random search per grid cell; the study figures' numbers against hand-counted oracles."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from lipcore.config import ConfigError, apply_overrides, validate
from lipcore.study import load_study
from lipcore.sweep import expand

STUDIES = sorted((Path(__file__).parents[2] / "configs" / "studies").glob("*.yaml"))


def header_count(path: Path) -> int:
    m = re.search(r"^# Runs: (\d+) =", path.read_text(), re.M)
    assert m, f"{path.name}: the header must state '# Runs: N = ...'"
    return int(m.group(1))


def test_there_is_one_study_per_seed():
    assert [p.name[:3] for p in STUDIES] == ["000", "001", "002", "003", "004"]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_validates_and_expands_to_its_documented_count(path):
    plan = load_study(path)
    assert plan.n_runs == header_count(path)
    members = expand(plan.params, zip=plan.zip or None, random=plan.random)
    assert len(members) == plan.n_runs
    configs = [validate(apply_overrides(plan.config, m)) for m in members]
    assert all("sweep" not in c or c["sweep"] is None for c in configs)
    assert plan.figures, "a study names the figures of its report"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


BASE = "name: s\ndata: {name: sine}\nmodel: {name: mlp}\n"


@pytest.mark.parametrize("section, key", [
    ("sweep: {params: {model.dept: [1, 2]}}", "sweep.params.model.dept"),
    ("sweep: {parms: {model.depth: [1, 2]}}", "sweep.parms"),
    ("sweep: {params: {model.depth: '3..1'}}", "sweep.params.model.depth"),
    ("sweep: {params: {model.depth: [1, 2]}, scale: [model.name]}", "sweep.scale.0"),
    ("sweep: {params: {model.depth: [1, 2]}, figures: [{name: pie}]}", "sweep.figures.0.name"),
    ("sweep: {params: {model.depth: [1, 2], model.width: [3]}, zip: [[model.depth, model.width]]}",
     "sweep.params.model.depth"),
    ("sweep: {params: {training.lr: 'logfloat(1e-3,1e-1)'}, random: {samples: many}}",
     "sweep.random"),
])
def test_a_bad_sweep_section_names_its_key(tmp_path, section, key):
    with pytest.raises(ConfigError) as e:
        load_study(write(tmp_path, BASE + section + "\n"))
    assert key in [i.key for i in e.value.issues], e.value.issues


def test_cli_error_for_a_bad_file_names_the_key(tmp_path, capsys):
    from liplab.cli import main

    path = write(tmp_path, BASE + "sweep: {params: {model.widht: [8, 16]}}\n")
    assert main(["study", str(path), "--wait"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liplab study: sweep.params.model.widht: unknown config key")
    assert "model.width" in err  # the suggestion


def test_overrides_and_scale(tmp_path):
    path = write(tmp_path, BASE + "training: {epochs: 10}\nsweep:\n"
                 "  params: {model.depth: [1, 2, 3], model.width: [8, 16], training.epochs: [4, 6],"
                 " model.model_seed: [0, 1]}\n"
                 "  zip: [[model.width, training.epochs]]\n"
                 "  scale: [training.epochs, data.n_train]\n")
    assert load_study(path).n_runs == 3 * 2 * 2
    plan = load_study(path, ["model.depth=2", "model.width=16"], scale=0.5)
    assert plan.n_runs == 2  # depth fixed; the zip group down to its (16, 6) tuple; 2 seeds
    assert plan.config["model"]["depth"] == 2 and plan.config["model"]["width"] == 16
    assert plan.config["training"]["epochs"] == 3  # 6 · 0.5, from the zipped tuple
    assert plan.config["data"]["n_train"] == 128  # the default 256 · 0.5
    assert load_study(path, ["model.depth=1,3"]).n_runs == 2 * 2 * 2
    with pytest.raises(ConfigError, match="model.width: 32 is not one of the zipped values"):
        load_study(path, ["model.width=32"])
    with pytest.raises(ConfigError, match="model.wdth"):
        load_study(path, ["model.wdth=3"])


def test_random_search_per_grid_cell_is_cells_times_samples_and_reproducible():
    params = {"model.layer": ["aol", "soc", "cpl"], "model.name": ["a", "b", "c"],
              "model.depth": [1, 2], "training.lr": "logfloat(1e-3,1e-1)"}
    random = {"samples": 4, "seed": 7, "grid": True}
    runs = expand(params, zip=[["model.layer", "model.name"]], random=random)
    assert len(runs) == 3 * 2 * 4
    for layer, name in (("aol", "a"), ("soc", "b"), ("cpl", "c")):
        cell = [r for r in runs if r["model.layer"] == layer]
        assert len(cell) == 8 and {r["model.name"] for r in cell} == {name}
    assert all(1e-3 <= r["training.lr"] <= 1e-1 for r in runs)
    assert len({r["training.lr"] for r in runs}) == len(runs)
    assert runs == expand(params, zip=[["model.layer", "model.name"]], random=random)
    assert runs != expand(params, zip=[["model.layer", "model.name"]], random={**random, "seed": 8})


def fake_run(i, depth, width, flossing, best, final, status="succeeded"):
    return {"id": i, "status": status, "error": None,
            "config": {"model": {"depth": depth, "width": width}, "flossing": {"enabled": flossing}},
            "summary": {"test_loss": {"min": best, "last": best},
                        "train_loss": {"last": final, "min": final}},
            "metrics": {"train_loss": {"step": [0, 1], "value": [1.0, final]}}}


def test_heatmap_counts_cells_and_runs_that_train(tmp_path):
    from lipcore.study_figures import write_study

    runs = [fake_run(1, 3, 8, False, 0.1, 0.1), fake_run(2, 3, 8, False, 0.3, 0.3),
            fake_run(3, 3, 8, False, 0.05, 0.05),  # cell (3, 8): 2 of 3 train → ✓
            fake_run(4, 7, 8, False, 0.5, 0.5),    # cell (7, 8): 0 of 1
            fake_run(5, 3, 8, True, 0.1, 0.1),
            fake_run(6, 7, 8, True, 0.05, math.nan, status="diverged")]  # diverged: fails
    spec = {"name": "heatmap", "x": "model.width", "y": "model.depth", "metric": "test_loss",
            "stat": "min", "split": "flossing.enabled",
            "success": {"metric": "train_loss", "stat": "last", "below": 0.2}}
    md = write_study(runs, [spec], tmp_path, "t").read_text()
    assert "| flossing=False | 1/2 (50 %) | 2/4 (50 %) |" in md
    assert "| flossing=True | 1/2 (50 %) | 1/2 (50 %) |" in md
    mean, std = 0.15, math.sqrt(((0.1 - 0.15) ** 2 + (0.3 - 0.15) ** 2 + (0.05 - 0.15) ** 2) / 2)
    assert f"{mean:.4g} ± {std:.2g} (N=3)" in md
    assert (tmp_path / "figures" / "00_heatmap.png").stat().st_size > 1000


def test_saxe_loss_at_a_modes_half_time():
    from lipcore.study_figures import saxe_loss

    s, u0, tau, d = 3.0, 1e-3, 100.0, 4
    t_half = tau / (2 * s) * math.log(s / u0 - 1)  # solves u(t) = s/2 by hand
    assert saxe_loss([t_half], [s], u0, tau, d)[0] == pytest.approx((s / 2) ** 2 / d, rel=1e-9)
    assert saxe_loss([0.0], [s], u0, tau, d)[0] == pytest.approx((s - u0) ** 2 / d, rel=1e-12)
    assert saxe_loss([1e5], [s], u0, tau, d)[0] < 1e-12


def test_a_study_file_section_is_kept_out_of_the_run_configs():
    path = STUDIES[0]
    raw = yaml.safe_load(path.read_text())
    assert "sweep" in raw and "sweep" not in load_study(path).config


def layer_run(i, layer, acc, time_s):
    return {"id": i, "status": "succeeded", "config": {"model": {"layer": layer}},
            "summary": {"test_acc": {"last": acc}, "time/batch_s": {"last": time_s}},
            "metrics": {}}


def test_ranking_beside_a_published_one_and_the_radar(tmp_path):
    from lipcore.study_figures import write_study

    runs = [layer_run(1, "aol", 0.5, 0.2), layer_run(2, "aol", 0.7, 0.2),  # aol mean 0.6
            layer_run(3, "soc", 0.8, 0.4), layer_run(4, "cpl", 0.4, 0.1),
            layer_run(5, "sll", 0.9, 0.3)]
    specs = [{"name": "ranking", "by": "model.layer", "metric": "test_acc",
              "published": {"aol": 61.0, "soc": 66.3, "cpl": 65.1, "bcop": 60.5}},
             {"name": "radar", "by": "model.layer",
              "axes": [{"metric": "test_acc"}, {"metric": "time/batch_s", "lower": True}]}]
    md = write_study(runs, specs, tmp_path, "t").read_text()
    # ours: sll 0.9, soc 0.8, aol 0.6, cpl 0.4; published ranks soc 1, cpl 2, aol 3 (bcop 4)
    assert "| 1 | sll | 0.9 ± 0 (N=1) | – | – |" in md
    assert "| 3 | aol | 0.6 ± 0.14 (N=2) | 3 | 61.0 |" in md
    # Spearman over soc, aol, cpl: ours (0.8, 0.6, 0.4) vs published (66.3, 61.0, 65.1) → 0.5
    assert "shared groups: 0.50." in md
    assert (tmp_path / "figures" / "01_radar.png").stat().st_size > 1000


@pytest.mark.parametrize("key", ["figures", "zip", "scale"])
def test_an_empty_mapping_is_not_a_list(key):
    from lipcore.config import ConfigError, validate

    with pytest.raises(ConfigError) as e:
        validate({"sweep": {"params": {"model.model_seed": [0, 1]}, key: {}}})
    assert f"sweep.{key}" in str(e.value)
