"""Two models in lockstep: shared sections merged, same batches, comparative metrics logged."""
import pytest

from lipcore import run_experiment
from lipcore.config import ConfigError, apply_overrides, validate
from lipcore.config.schema import resolve_side
from lipcore.reporting import ListReporter
from tests.lipcore.training.helpers import config


def comparative(**extra):
    cfg = config(training={"metrics": ["param_distance", "param_cosine_sim", "weight_norm"]})
    cfg.update({"shared": {"model": {"model_seed": 0}, "training": {"lr": 0.01}},
                "model_a": {}, "model_b": {}})
    cfg.update(extra)
    return cfg


def test_identical_sides_stay_identical():
    r = ListReporter()
    summary = run_experiment(comparative(), r)
    assert summary["status"] == "succeeded"
    assert r.series("param_distance") == [0.0] * 4
    assert r.series("param_cosine_sim") == pytest.approx([1.0] * 4)
    assert r.series("a/train_loss") == r.series("b/train_loss") and len(r.series("a/train_loss")) == 4
    logged = {k for _, k, _ in r.points}
    assert not {"train_loss", "test_loss", "lr"} & logged  # each side once, prefixed


def test_sides_differ_by_their_own_keys_and_train_on_the_same_batches():
    cfg = comparative(model_b={"model_seed": 7})
    r = ListReporter()
    run_experiment(cfg, r)
    assert all(d > 0 for d in r.series("param_distance"))
    # model A alone, trained by an ordinary run, logs exactly A's series: same batches
    single = ListReporter()
    run_experiment(config(), single)
    assert single.series("test_loss") == r.series("a/test_loss")


def test_overrides_reach_shared_and_each_side():
    cfg = apply_overrides(comparative(), ["shared.training.lr=0.05", "model_b.model_seed=999",
                                          "model_b.training.lr=0.2"])
    cfg = validate(cfg)
    a, b = resolve_side(cfg, "model_a"), resolve_side(cfg, "model_b")
    assert a["training"]["lr"] == 0.05 and b["training"]["lr"] == 0.2
    assert a["model"]["model_seed"] == 0 and b["model"]["model_seed"] == 999


def test_bad_comparative_keys_are_named():
    with pytest.raises(ConfigError) as e:
        validate(comparative(model_b={"depthh": 3}))
    assert [i.key for i in e.value.issues] == ["model_b.depthh"]
    with pytest.raises(ConfigError, match="model_a.training.batch_size"):
        validate(comparative(model_a={"training": {"batch_size": 8}}))
