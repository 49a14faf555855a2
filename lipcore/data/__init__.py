"""Datasets by name: `build_dataset(data_cfg) -> Dataset` (tensors in memory, never downloaded)."""
from lipcore.data.base import DATASETS, Dataset, build_dataset
from lipcore.data import digits, files, synthetic, teacher, text  # noqa: F401  (register)
from lipcore.data.teacher import TEACHER_MATRICES

__all__ = ["DATASETS", "TEACHER_MATRICES", "Dataset", "build_dataset"]
