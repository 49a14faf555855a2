"""Image sets read from a local folder `data.root`, in the layouts torchvision leaves on disk.

Never downloads: when the files are missing the error names the folder searched and the file
expected. Layouts: MNIST idx files (`train-images-idx3-ubyte[.gz]`, also under `MNIST/raw/`),
CIFAR-10/100 python pickles (`cifar-10-batches-py/`, `cifar-100-python/`), SVHN
`train_32x32.mat` / `test_32x32.mat`. Pixels are scaled to [0, 1]; `n_train`/`n_test` take the
first examples of a permutation seeded by `data.data_seed`.
"""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from lipcore.data.base import DATASETS, Dataset


def _find(cfg: dict[str, Any], names: list[str], subdirs: list[str]) -> list[Path]:
    """The files `names` in `data.root` or one of its `subdirs`; FileNotFoundError otherwise."""
    if not cfg.get("root"):
        raise FileNotFoundError(f"data.root: {cfg['name']} is read from a local folder; set "
                                "data.root (nothing is ever downloaded)")
    root = Path(cfg["root"]).expanduser()
    for folder in [root] + [root / s for s in subdirs]:
        found = []
        for name in names:
            hits = [folder / name, folder / (name + ".gz")]
            found.append(next((h for h in hits if h.is_file()), None))
        if all(found):
            return found  # type: ignore[return-value]
    raise FileNotFoundError(f"data.root: {cfg['name']} files not found under {root} "
                            f"(looked for {names[0]} in {root} and {', '.join(subdirs)}); "
                            "nothing is ever downloaded")


def _read_idx(path: Path) -> np.ndarray:
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _finish(cfg: dict[str, Any], train: tuple, test: tuple, n_classes: int) -> Dataset:
    """uint8 (N, C, H, W) images and labels → a Dataset of the configured sizes."""
    g = torch.Generator().manual_seed(cfg["data_seed"])
    parts = []
    for (x, y), n in ((train, cfg["n_train"]), (test, cfg["n_test"])):
        idx = torch.randperm(len(x), generator=g)[:n]
        xt = torch.from_numpy(np.ascontiguousarray(x))[idx].float() / 255.0
        parts += [xt.flatten(1) if cfg.get("flatten") else xt,
                  torch.as_tensor(np.asarray(y), dtype=torch.int64)[idx]]
    return Dataset(*parts, task="classification", n_classes=n_classes)


@DATASETS.register("mnist")
def mnist(cfg: dict[str, Any]) -> Dataset:
    """MNIST, x: (N, 1, 28, 28)."""
    files = _find(cfg, ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
                  ["MNIST/raw", "mnist", "mnist/raw"])
    xs, ys, xt, yt = (_read_idx(f) for f in files)
    return _finish(cfg, (xs[:, None], ys), (xt[:, None], yt), 10)


@DATASETS.register("cifar10")
def cifar10(cfg: dict[str, Any]) -> Dataset:
    """CIFAR-10, x: (N, 3, 32, 32)."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = [_unpickle(f) for f in _find(cfg, names, ["cifar-10-batches-py"])]
    x = [b["data"].reshape(-1, 3, 32, 32) for b in batches]
    y = [b["labels"] for b in batches]
    return _finish(cfg, (np.concatenate(x[:5]), sum(y[:5], [])), (x[5], y[5]), 10)


@DATASETS.register("cifar100")
def cifar100(cfg: dict[str, Any]) -> Dataset:
    """CIFAR-100 (fine labels), x: (N, 3, 32, 32)."""
    train, test = (_unpickle(f) for f in _find(cfg, ["train", "test"], ["cifar-100-python"]))
    return _finish(cfg, (train["data"].reshape(-1, 3, 32, 32), train["fine_labels"]),
                   (test["data"].reshape(-1, 3, 32, 32), test["fine_labels"]), 100)


@DATASETS.register("svhn")
def svhn(cfg: dict[str, Any]) -> Dataset:
    """SVHN cropped digits, x: (N, 3, 32, 32); label 10 (the digit 0) becomes 0."""
    from scipy.io import loadmat

    parts = []
    for f in _find(cfg, ["train_32x32.mat", "test_32x32.mat"], ["svhn", "SVHN"]):
        mat = loadmat(f)
        parts.append((mat["X"].transpose(3, 2, 0, 1), mat["y"].ravel() % 10))
    return _finish(cfg, parts[0], parts[1], 10)
