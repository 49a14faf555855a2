"""Every dataset: shapes, determinism by data_seed, online samplers, file sets from data.root."""
import gzip
import pickle

import numpy as np
import pytest
import torch

from lipcore.config import validate
from lipcore.data import DATASETS, TEACHER_MATRICES, build_dataset

GENERATED = ["circles", "digits", "gaussians", "moons", "sine", "teacher", "text", "xor"]
FILE_SETS = ["cifar10", "cifar100", "mnist", "svhn"]


def data_cfg(**kw):
    model = {"name": "gpt"} if kw.get("name") == "text" else {}
    return validate({"data": {"n_train": 100, "n_test": 50, **kw}, "model": model})["data"]


def test_every_registered_dataset_is_covered_here():
    assert sorted(DATASETS) == sorted(GENERATED + FILE_SETS)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_are_deterministic_and_sized(name):
    a, b = build_dataset(data_cfg(name=name)), build_dataset(data_cfg(name=name))
    c = build_dataset(data_cfg(name=name, data_seed=1))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert len(a.x_train) == 100 and len(a.x_test) == 50 and len(a.y_train) == 100


@pytest.mark.parametrize("name,n_classes", [("moons", 2), ("circles", 2), ("xor", 2), ("digits", 10)])
def test_classification_sets_have_all_classes(name, n_classes):
    data = build_dataset(data_cfg(name=name))
    assert data.task == "classification" and data.out_features == n_classes
    assert set(data.y_train.tolist()) == set(range(n_classes))


def test_xor_labels_and_normalisation_by_training_statistics():
    data = build_dataset(data_cfg(name="xor", n_train=2000))
    assert data.x_train.mean(0).abs().max() < 1e-5
    assert (data.x_train.std(0) - 1).abs().max() < 1e-5
    # labels: same sign quadrant → 1 (normalisation keeps the origin near 0 for uniform data)
    agree = ((data.x_train[:, 0] * data.x_train[:, 1] > 0).long() == data.y_train).float().mean()
    assert agree > 0.97


def test_gaussians_clusters():
    data = build_dataset(data_cfg(name="gaussians", n_classes=4, in_dim=2, normalize=False))
    assert data.out_features == 4 and data.x_train.shape[1] == 2


def test_digits_flat_and_image():
    flat = build_dataset(data_cfg(name="digits"))
    image = build_dataset(data_cfg(name="digits", image=True))
    assert flat.x_train.shape == (100, 64) and image.x_train.shape == (100, 1, 8, 8)
    assert image.in_channels == 1 and flat.in_channels is None
    assert 0 <= image.x_train.min() and image.x_train.max() <= 1
    with pytest.raises(ValueError, match="data.n_train"):
        build_dataset(data_cfg(name="digits", n_train=1700, n_test=200))


def test_text_windows_predict_the_next_character():
    data = build_dataset(data_cfg(name="text", seq_len=12))
    from lipcore.data.text import CORPUS

    assert data.x_train.shape == (100, 12) and data.y_train.shape == (100,)
    vocab = data.info["vocab"]
    assert data.vocab_size == len(vocab) == data.out_features
    for x, y in zip(data.x_train[:5], data.y_train[:5]):
        window = "".join(vocab[i] for i in x) + vocab[y]
        assert window in CORPUS  # the label is the character that follows the window


def test_teacher_matrices():
    g = torch.Generator().manual_seed(0)
    cfg = data_cfg(name="teacher", singular_values=[3, 2, 1], rank=2)
    w = TEACHER_MATRICES["diagonal"](3, 4, cfg, g)
    assert torch.equal(w, torch.tensor([[3.0, 0, 0], [0, 2, 0], [0, 0, 1], [0, 0, 0]]))
    low = TEACHER_MATRICES["low_rank"](6, 5, data_cfg(rank=2), g)
    assert torch.linalg.matrix_rank(low) == 2
    assert torch.linalg.svdvals(low)[:2].tolist() == pytest.approx([5.0, 5.0 * 2 / 3], rel=1e-5)


def test_teacher_targets_and_whitening():
    data = build_dataset(data_cfg(name="teacher", in_dim=4, out_dim=3, whiten=True, noise=0.0))
    w = data.info["teacher"]
    assert torch.allclose(data.y_train, data.x_train @ w.T, atol=1e-5)
    assert torch.allclose(data.x_train.T @ data.x_train / 100, torch.eye(4), atol=1e-5)


def test_online_sampler_draws_fresh_examples_of_the_same_law():
    data = build_dataset(data_cfg(name="teacher", in_dim=4, out_dim=3))
    g = torch.Generator().manual_seed(0)
    x1, y1 = data.sampler(8, g)
    x2, _ = data.sampler(8, g)
    assert not torch.equal(x1, x2) and torch.allclose(y1, x1 @ data.info["teacher"].T)


@pytest.mark.parametrize("name", FILE_SETS)
def test_file_sets_without_root_or_files_name_the_path(name, tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root"):
        build_dataset(data_cfg(name=name))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        build_dataset(data_cfg(name=name, root=str(tmp_path)))


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(str(path) + ".gz", "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files_are_read(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30)
    _idx(raw / "train-images-idx3-ubyte", images)
    _idx(raw / "train-labels-idx1-ubyte", labels)
    _idx(raw / "t10k-images-idx3-ubyte", images[:10])
    _idx(raw / "t10k-labels-idx1-ubyte", labels[:10])
    data = build_dataset(data_cfg(name="mnist", root=str(tmp_path), n_train=30, n_test=10))
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_train.max() <= 1
    # every loaded image is one of the files' images with its own label
    first = (data.x_train[0, 0] * 255).round().to(torch.uint8).numpy()
    i = next(i for i in range(30) if np.array_equal(images[i], first))
    assert data.y_train[0] == labels[i]
    flat = build_dataset(data_cfg(name="mnist", root=str(tmp_path), n_train=30, n_test=10,
                                  flatten=True))
    assert flat.x_train.shape == (30, 784)


def test_cifar10_pickles_are_read(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": np.full((4, 3072), 51, dtype=np.uint8), "labels": [1, 2, 3, 4]}
        (folder / name).write_bytes(pickle.dumps(batch))
    data = build_dataset(data_cfg(name="cifar10", root=str(tmp_path), n_train=20, n_test=4))
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_train[0, 0, 0, 0] == pytest.approx(0.2)
    assert sorted(data.y_test.tolist()) == [1, 2, 3, 4]


def test_moons_without_noise_lie_on_their_half_circles():
    data = build_dataset(data_cfg(name="moons", noise=0.0, normalize=False))
    x, y = data.x_train, data.y_train
    centre = torch.where(y[:, None] == 1, torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.0]))
    assert torch.allclose((x - centre).norm(dim=1), torch.ones(len(x)), atol=1e-5)
    noisy = build_dataset(data_cfg(name="moons", normalize=False))  # default noise 0.1
    assert not torch.allclose(noisy.x_train.norm(dim=1), torch.ones(100), atol=1e-2)
