"""The published config JSON Schema agrees with `validate`: the shipped configs pass it, bad keys,
bad names and broken combinations fail it, and every registered name carries a description."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from lipcore import catalog, catalog_help
from lipcore.config import ConfigError, validate
from lipcore.config.jsonschema import config_json_schema_document

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
VALIDATOR = jsonschema.Draft7Validator(config_json_schema_document())


def test_the_document_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(config_json_schema_document())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    cfg = yaml.safe_load(path.read_text())
    assert [e.message for e in VALIDATOR.iter_errors(cfg)] == []


BAD = {
    "unknown top key": {"trainng": {}},
    "unknown section key": {"training": {"epoch": 3}},
    "unknown model": {"model": {"name": "transformer"}},
    "unknown layer": {"model": {"name": "lipschitz_sequential", "layer": "dense"}},
    "unknown metric": {"training": {"metrics": ["accuracy_x"]}},
    "unknown callback": {"training": {"callbacks": [{"name": "nope"}]}},
    "unknown probe": {"probes": [{"name": "nope"}]},
    "unknown probe parameter": {"probes": [{"name": "hessian", "kk": 3}]},
    "below a minimum": {"training": {"lr": 0}},
    "wrong type": {"data": {"n_train": "many"}},
    "bad device": {"training": {"device": "tpu"}},
    "conv model on flat data": {"model": {"name": "convnet"}},
    "token model without text": {"model": {"name": "gpt"}},
    "text without a token model": {"data": {"name": "text"}},
    "online data without a batch size": {"data": {"online": True}, "training": {"batch_size": None}},
    "online on a fixed set": {"data": {"name": "digits", "online": True}},
    "comparative blockwise": {"model_a": {"width": 8}, "training": {"mode": "blockwise_sequential"}},
    "lockstep key on a side": {"model_a": {"training": {"epochs": 3}}},
    "data on a side": {"model_a": {"data": {"name": "moons"}}},
    "shared without sides": {"shared": {"training": {"lr": 0.1}}},
}
GOOD = {
    "empty": {},
    "conv model on image digits": {"model": {"name": "convnet"}, "data": {"name": "digits", "image": True}},
    "gpt on text": {"model": {"name": "gpt"}, "data": {"name": "text"}},
    "online teacher": {"data": {"name": "teacher", "online": True}},
    "comparative": {"model_a": {"width": 8}, "model_b": {"width": 16, "training": {"lr": 0.1}},
                    "shared": {"training": {"lr": 0.01}}, "training": {"metrics": ["param_distance"]}},
    "probes": {"probes": [{"name": "hessian", "k": 3}, {"name": "certified", "eps": [0.1]}]},
    "callbacks": {"training": {"callbacks": ["lr_decay", {"name": "switch_batch_size", "params": {}}]}},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_configs_fail_the_schema_and_validate(name):
    assert list(VALIDATOR.iter_errors(BAD[name])), f"the schema admits {BAD[name]}"
    with pytest.raises(ConfigError):
        validate(BAD[name])


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_configs_pass_the_schema_and_validate(name):
    assert [e.message for e in VALIDATOR.iter_errors(GOOD[name])] == []
    validate(GOOD[name])


@pytest.mark.parametrize("lst", ["LAYERS", "CONV_LAYERS", "MODELS", "DATASETS", "METRICS",
                                 "COMPARATIVE_METRICS", "CALLBACKS", "STOPPERS", "PROBES"])
def test_every_registered_name_has_a_description(lst):
    helps = {**catalog_help.LAYERS, **catalog_help.MODELS, **catalog_help.DATASETS,
             **catalog_help.METRICS, **catalog_help.CALLBACKS, **catalog_help.STOPPERS,
             **catalog_help.PROBES}
    assert [n for n in getattr(catalog, lst) if n not in helps] == []


def test_registered_names_appear_as_enums_with_descriptions():
    doc = config_json_schema_document()
    layer = doc["properties"]["model"]["properties"]["layer"]
    assert "aol" in layer["enum"] and "ldlt" in layer["enum"] and None in layer["enum"]
    assert len(layer["enumDescriptions"]) == len([v for v in layer["enum"] if v is not None])
    models = doc["properties"]["model"]["properties"]["name"]
    assert models["enum"] == catalog.MODELS and all(models["enumDescriptions"])


def test_liplab_schema_writes_the_document(tmp_path, capsys):
    import json

    from liplab.cli import main

    out = tmp_path / "config.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == config_json_schema_document()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_json_schema_document()
