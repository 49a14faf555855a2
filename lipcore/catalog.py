"""The names every registry offers, as plain lists: torch-free, for the server and dashboard.

The server validates configs against these lists without importing torch; the test
`tests/lipcore/test_catalog.py` keeps each list equal to its live registry, so registering a
new layer (say) without naming it here fails CI.
"""

DATASETS = ["sine"]
MODELS = ["mlp"]
LAYERS: list[str] = []
CONV_LAYERS: list[str] = []
ACTIVATIONS = ["gelu", "identity", "relu", "tanh"]
OPTIMIZERS = ["adam", "adamw", "sgd"]
SCHEDULES: list[str] = []
LOSSES = ["cross_entropy", "mse"]
CALLBACKS: list[str] = []
STOPPERS: list[str] = []
METRICS: list[str] = []
PROBES: list[str] = ["certified", "connectivity", "hessian", "interpolation", "lyapunov", "measurement",
          "pca", "sharpness", "slice_1d", "slice_2d"]
