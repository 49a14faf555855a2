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


# --- training engine: impossible combinations are named before anything runs ---

def _issue_keys(cfg):
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    return [i.key for i in e.value.issues]


def test_online_data_with_full_batch_names_the_batch_size():
    keys = _issue_keys({"data": {"name": "teacher", "online": True},
                        "training": {"batch_size": None}})
    assert keys == ["training.batch_size"]
    assert _issue_keys({"data": {"name": "digits", "online": True}}) == ["data.online"]


def test_unknown_plugin_names_are_named_with_their_index():
    keys = _issue_keys({"training": {"callbacks": [{"name": "lr_decay"}, {"name": "nope"}],
                                     "stoppers": ["target_los"], "metrics": ["weight_norm", "x"],
                                     "measurements": ["memmory"], "schedule": "linear"}})
    assert set(keys) == {"training.callbacks.1.name", "training.stoppers.0.name",
                         "training.metrics.1", "training.measurements.0", "training.schedule"}


def test_conv_model_on_flat_data_is_rejected(monkeypatch):
    from lipcore import catalog

    monkeypatch.setattr(catalog, "IMAGE_MODELS", ["convnet"])
    monkeypatch.setattr(catalog, "MODELS", catalog.MODELS + ["convnet"])
    assert _issue_keys({"data": {"name": "digits"}, "model": {"name": "convnet"}}) == ["model.name"]
    validate({"data": {"name": "digits", "image": True}, "model": {"name": "convnet"}})
    assert _issue_keys({"data": {"name": "mnist", "flatten": True},
                        "model": {"name": "convnet"}}) == ["model.name"]


def test_training_keys_have_types_and_ranges():
    keys = _issue_keys({"training": {"mode": "parallel", "prox_lambda": [0.1, -1], "gamma": 2,
                                     "K": 0}, "data": {"matrix": "nope"},
                        "flossing": {"pre_epochs": -1}})
    assert set(keys) == {"training.mode", "training.prox_lambda", "training.gamma", "training.K",
                         "data.matrix", "flossing.pre_epochs"}
    cfg = validate({"training": {"prox_lambda": [0.1, 1]}})
    assert cfg["training"]["prox_lambda"] == [0.1, 1]


def test_text_needs_a_token_model_and_back():
    assert _issue_keys({"data": {"name": "text"}, "model": {"name": "mlp"}}) == ["model.name"]
    assert _issue_keys({"data": {"name": "sine"}, "model": {"name": "gpt"}}) == ["model.name"]
    validate({"data": {"name": "text"}, "model": {"name": "gpt"}})


def test_device_names():
    assert _issue_keys({"training": {"device": "tpu"}}) == ["training.device"]
    for name in ("auto", "cpu", "cuda", "cuda:1"):
        validate({"training": {"device": name}})


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_an_integer_key_given_a_non_finite_number_is_a_config_error_naming_it(value):
    with pytest.raises(ConfigError) as e:
        validate({"training": {"epochs": value}})
    assert "training.epochs" in str(e.value) and "integer" in str(e.value)
