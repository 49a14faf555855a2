"""Keys of the `data` section.

`IMAGE_DATASETS` names the sets whose examples are images (N, C, H, W) unless flattened; the
schema uses it to reject a conv model on flat data before anything runs (torch-free).
"""
from lipcore.config.fields import Field

#: datasets that come as images; `digits` is an image set only with `data.image: true`.
IMAGE_DATASETS = ("mnist", "cifar10", "cifar100", "svhn")
#: datasets that can draw fresh samples every batch (`data.online: true`).
ONLINE_DATASETS = ("teacher", "sine", "moons", "circles", "gaussians", "xor")

DATA = {
    "name": Field(str, "sine", choices="DATASETS", help="dataset from the registry"),
    "n_train": Field(int, 256, min=1, help="training examples (online: examples per epoch)"),
    "n_test": Field(int, 256, min=1, help="test examples"),
    "data_seed": Field(int, 0, help="seed of the data generator"),
    "noise": Field(float, None, nullable=True, min=0.0,
                   help="noise std: label noise (sine, teacher; default 0), input noise "
                        "(moons 0.1, circles 0.05, gaussians 1.0 by default)"),
    "root": Field(str, None, nullable=True, help="local folder of file-based datasets"),
    "online": Field(bool, False, help="fresh samples every batch (needs a batch size)"),
    "matrix": Field(str, "diagonal", choices="TEACHER_MATRICES",
                    help="teacher matrix type (teacher)"),
    "in_dim": Field(int, 8, min=1, help="input size of the teacher / gaussians / xor sets"),
    "out_dim": Field(int, 8, min=1, help="output size of the teacher"),
    "rank": Field(int, 2, min=1, help="rank of a low_rank teacher"),
    "singular_values": Field(list, None, nullable=True,
                             help="teacher diagonal / singular values (default: a geometric ramp)"),
    "whiten": Field(bool, False, help="teacher: make the training inputs exactly white"),
    "n_classes": Field(int, 3, min=2, max=10, help="clusters of the gaussians set"),
    "image": Field(bool, False, help="digits: (N, 1, 8, 8) images instead of flat 64-vectors"),
    "flatten": Field(bool, False, help="file-based image sets as flat vectors"),
    "seq_len": Field(int, 16, min=2, help="context length of the char-level text set"),
    "normalize": Field(bool, True, help="standardise inputs by training statistics"),
}
