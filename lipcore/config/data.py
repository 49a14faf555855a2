"""Keys of the `data` section."""
from lipcore.config.fields import Field

DATA = {
    "name": Field(str, "sine", choices="DATASETS", help="dataset from the registry"),
    "n_train": Field(int, 256, min=1, help="training examples"),
    "n_test": Field(int, 256, min=1, help="test examples"),
    "data_seed": Field(int, 0, help="seed of the data generator"),
    "noise": Field(float, 0.0, min=0.0, help="std of Gaussian label noise (regression sets)"),
    "root": Field(str, None, nullable=True, help="local folder of file-based datasets"),
}
