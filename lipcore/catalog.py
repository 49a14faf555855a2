"""The names every registry offers, as plain lists: torch-free, for the server and dashboard.

The server validates configs against these lists without importing torch; the test
`tests/lipcore/test_catalog.py` keeps each list equal to its live registry, so registering a
new layer (say) without naming it here fails CI.
"""

DATASETS = ["sine"]
MODELS = ["mlp"]
MODELS += ["convnet", "deep_linear", "feedforward", "gpt", "lipschitz_residual",
           "lipschitz_sequential", "lipschitz_stacked", "resnet", "small_cnn"]
LAYERS: list[str] = ["aol", "bjorck", "cayley", "cpl", "orthogonal", "sandwich", "sll", "soc",
                     "spectral", "unconstrained"]
CONV_LAYERS: list[str] = ["aol", "bcop", "cayley", "cpl", "lot", "sll", "soc", "unconstrained"]
ACTIVATIONS = ["gelu", "identity", "relu", "tanh"]
ACTIVATIONS += ["groupsort", "maxmin"]
OPTIMIZERS = ["adam", "adamw", "sgd"]
SCHEDULES: list[str] = []
LOSSES = ["cross_entropy", "mse"]
CALLBACKS: list[str] = []
STOPPERS: list[str] = []
METRICS: list[str] = []
PROBES: list[str] = []
LOSSES += ["offset_cross_entropy"]
