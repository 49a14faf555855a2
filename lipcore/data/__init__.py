"""Datasets by name: `build_dataset(data_cfg) -> Dataset` (tensors in memory)."""
from lipcore.data.base import DATASETS, Dataset, build_dataset
from lipcore.data import synthetic  # noqa: F401  (registers the generated sets)

__all__ = ["DATASETS", "Dataset", "build_dataset"]
