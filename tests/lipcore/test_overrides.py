"""Overrides a researcher types: inline YAML lists, appends, files of overrides, and the errors."""
from __future__ import annotations

import pytest

from lipcore.config import ConfigError, apply_overrides, validate
from lipcore.sweep import SweepError, expand, split_overrides

BASE = {"training": {"metrics": ["grad_norm"], "lr": 0.1}, "probes": [{"name": "sharpness"}]}


def test_inline_lists_and_mappings_are_set_as_one_value():
    cfg = apply_overrides(BASE, ["training.metrics=[param_distance]",
                                 "training.callbacks=[{name: lr_decay, params: {decay_every: 10, factor: 0.5}}]",
                                 "probes=[hessian, {name: interpolation, n_points: 5}]"])
    assert cfg["training"]["metrics"] == ["param_distance"]
    assert cfg["training"]["callbacks"] == [{"name": "lr_decay", "params": {"decay_every": 10, "factor": 0.5}}]
    assert cfg["probes"] == [{"name": "hessian"}, {"name": "interpolation", "n_points": 5}]
    assert validate(cfg)["training"]["metrics"] == ["param_distance"]
    assert BASE["training"]["metrics"] == ["grad_norm"]  # the input is not changed


def test_plus_appends_one_item_or_several():
    cfg = apply_overrides(BASE, ["+probes=hessian", "+training.metrics=[param_distance, weight_norm]",
                                 "+training.stoppers=early_stopping"])
    assert cfg["probes"] == [{"name": "sharpness"}, {"name": "hessian"}]
    assert cfg["training"]["metrics"] == ["grad_norm", "param_distance", "weight_norm"]
    assert cfg["training"]["stoppers"] == ["early_stopping"]  # missing list: the field's default ([]) extended


def test_a_file_of_overrides_dotted_or_nested(tmp_path):
    f = tmp_path / "more.yaml"
    f.write_text("training.lr: 0.5\ntraining:\n  metrics: [param_distance]\n  schedule_params: {step_size: 3}\n"
                 "+probes: [hessian]\nmodel.width: 8\n")
    cfg = apply_overrides(BASE, [f"@{f}", "model.width=16"])  # typed after the file: typed wins
    assert cfg["training"]["lr"] == 0.5 and cfg["training"]["metrics"] == ["param_distance"]
    assert cfg["training"]["schedule_params"] == {"step_size": 3}  # a mapping field stays whole
    assert cfg["probes"] == [{"name": "sharpness"}, {"name": "hessian"}]
    assert cfg["model"]["width"] == 16


@pytest.mark.parametrize("override, key, words", [
    ("training.metrix=[a]", "training.metrix", "unknown config key"),
    ("+training.lr=0.1", "training.lr", "is not a list"),
    ("training.metrics=[a, b", "training.metrics", "is not a YAML list"),
    ("training.lr", "training.lr", "key=value"),
    ("@/no/such/file.yaml", "@/no/such/file.yaml", "not found"),
])
def test_errors_name_the_key(override, key, words):
    with pytest.raises(ConfigError) as e:
        apply_overrides(BASE, [override])
    assert e.value.issues[0].key == key and words in e.value.issues[0].message


def test_a_file_that_is_not_a_mapping_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("- training.lr=1\n")
    with pytest.raises(ConfigError, match="bad.yaml: must map config keys"):
        apply_overrides(BASE, [f"@{f}"])


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        apply_overrides(BASE, ["training.lrr=1", "+model.width=2"])
    assert [i.key for i in e.value.issues] == ["training.lrr", "model.width"]


def test_inline_lists_and_appends_never_sweep(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text("model.width: '8,16'\n")  # a file sets values as written
    fixed, swept = split_overrides(["training.metrics=[a, b]", "+probes=hessian,sharpness",
                                    "training.lr=0.1,0.01", f"@{f}", "model.depth=3"])
    assert swept == {"training.lr": "0.1,0.01"}
    assert [o.key for o in fixed] == ["training.metrics", "probes", "model.width", "model.depth"]


def test_sweep_params_read_inline_lists_as_one_value():
    assert expand({"training.metrics": "[weight_norm, grad_norm]", "training.lr": "0.1,0.2"}) == [
        {"training.metrics": ["weight_norm", "grad_norm"], "training.lr": 0.1},
        {"training.metrics": ["weight_norm", "grad_norm"], "training.lr": 0.2}]
    with pytest.raises(SweepError) as e:
        expand({"training.metrics": "[weight_norm"})
    assert e.value.key == "training.metrics" and "not a YAML list" in str(e.value)
