"""The torch-free catalog the server validates against equals the live registries."""
import importlib

import pytest

from lipcore import catalog

# catalog list name → (module, registry attribute)
REGISTRIES = {
    "DATASETS": ("lipcore.data", "DATASETS"),
    "MODELS": ("lipcore.models", "MODELS"),
    "OPTIMIZERS": ("lipcore.training.optim", "OPTIMIZERS"),
    "LOSSES": ("lipcore.training.losses", "LOSSES"),
    "SCHEDULES": ("lipcore.training.optim", "SCHEDULES"),
    "TEACHER_MATRICES": ("lipcore.data", "TEACHER_MATRICES"),
    "CALLBACKS": ("lipcore.training.callbacks", "CALLBACKS"),
    "STOPPERS": ("lipcore.training.stoppers", "STOPPERS"),
    "METRICS": ("lipcore.training.metrics", "METRICS"),
    "COMPARATIVE_METRICS": ("lipcore.training.metrics", "COMPARATIVE_METRICS"),
    "MEASUREMENTS": ("lipcore.training.measurements", "MEASUREMENTS"),
    "LAYERS": ("lipcore.layers", "LAYERS"),
    "CONV_LAYERS": ("lipcore.layers", "CONV_LAYERS"),
    "ACTIVATIONS": ("lipcore.layers", "ACTIVATIONS"),
    "PROBES": ("lipcore.probes", "PROBES"),
}


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_catalog_matches_registry(name):
    module, attr = REGISTRIES[name]
    registry = getattr(importlib.import_module(module), attr)
    assert sorted(getattr(catalog, name)) == sorted(registry), (
        f"lipcore.catalog.{name} is out of date with {module}.{attr}")


@pytest.mark.parametrize("name", sorted(REGISTRIES) + ["IMAGE_MODELS", "TOKEN_MODELS"])
def test_catalog_lists_are_written_sorted_once(name):
    names = getattr(catalog, name)
    assert names == sorted(set(names)), f"lipcore.catalog.{name}: keep it sorted, each name once"


def test_shape_lists_name_registered_models():
    assert set(catalog.IMAGE_MODELS) | set(catalog.TOKEN_MODELS) <= set(catalog.MODELS)


def test_every_catalog_list_is_checked_against_a_registry():
    lists = {k for k, v in vars(catalog).items() if k.isupper() and isinstance(v, list)}
    assert lists - {"IMAGE_MODELS", "TOKEN_MODELS"} == set(REGISTRIES)
