"""The config schema: defaults, coercion, and errors that name the key."""
import pytest

from lipcore.config import ConfigError, apply_overrides, default_config, validate


def test_defaults_fill_every_section():
    cfg = validate({})
    assert cfg == default_config()
    assert cfg["training"]["batch_size"] == 64


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError) as e:
        validate({"training": {"lrr": 0.1}})
    (issue,) = e.value.issues
    assert issue.key == "training.lrr"
    assert "training.lr" in issue.message


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        validate({"training": {"lr": -1, "epochs": "many"}, "data": {"name": "nope"}})
    assert {i.key for i in e.value.issues} == {"training.lr", "training.epochs", "data.name"}


def test_null_batch_size_means_full_batch():
    assert validate({"training": {"batch_size": None}})["training"]["batch_size"] is None


def test_overrides_parse_scalars_and_reject_unknown_keys():
    cfg = apply_overrides({}, ["training.lr=1e-2", "training.batch_size=null", "model.depth=3"])
    cfg = validate(cfg)
    assert cfg["training"]["lr"] == 0.01 and cfg["training"]["batch_size"] is None
    assert cfg["model"]["depth"] == 3
    with pytest.raises(ConfigError, match="model.dept"):
        apply_overrides({}, ["model.dept=3"])
