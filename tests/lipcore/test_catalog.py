"""The torch-free catalog the server validates against equals the live registries."""
import importlib

import pytest

from lipcore import catalog

# catalog list name → (module, registry attribute)
REGISTRIES = {
    "DATASETS": ("lipcore.data", "DATASETS"),
    "MODELS": ("lipcore.models", "MODELS"),
    "OPTIMIZERS": ("lipcore.training.optim", "OPTIMIZERS"),
    "LOSSES": ("lipcore.training.optim", "LOSSES"),
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
    "STUDY_FIGURES": ("lipcore.study_figures", "STUDY_FIGURES"),
}


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_catalog_matches_registry(name):
    module, attr = REGISTRIES[name]
    registry = getattr(importlib.import_module(module), attr)
    assert sorted(getattr(catalog, name)) == sorted(registry), (
        f"lipcore.catalog.{name} is out of date with {module}.{attr}")
