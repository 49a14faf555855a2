"""The names every registry offers, as plain sorted lists: torch-free, for the server and dashboard.

The server validates configs against these lists without importing torch;
`tests/lipcore/test_catalog.py` keeps each list equal to its live registry (and sorted), so
registering a new layer (say) without naming it here fails the tests.
"""

ACTIVATIONS: list[str] = ["gelu", "groupsort", "identity", "maxmin", "relu", "tanh"]
CALLBACKS: list[str] = ["lr_decay", "multi_switch_batch_size", "switch_batch_size"]
COMPARATIVE_METRICS: list[str] = ["param_cosine_sim", "param_distance"]
CONV_LAYERS: list[str] = ["aol", "bcop", "cayley", "cpl", "lot", "sll", "soc", "unconstrained"]
DATASETS: list[str] = ["cifar10", "cifar100", "circles", "digits", "gaussians", "mnist", "moons",
                       "sine", "svhn", "teacher", "text", "xor"]
LAYERS: list[str] = ["aol", "bjorck", "cayley", "cpl", "orthogonal", "sandwich", "sll", "soc",
                     "spectral", "unconstrained"]
LOSSES: list[str] = ["cross_entropy", "mse", "offset_cross_entropy"]
MEASUREMENTS: list[str] = ["hessian_block_interaction", "memory"]
METRICS: list[str] = ["grad_norm", "lyapunov", "trace_covariances", "weight_norm"]
MODELS: list[str] = ["convnet", "deep_linear", "feedforward", "gpt", "lipschitz_residual",
                     "lipschitz_sequential", "lipschitz_stacked", "mlp", "resnet", "small_cnn"]
OPTIMIZERS: list[str] = ["adam", "adamw", "sgd"]
PROBES: list[str] = ["certified", "connectivity", "hessian", "interpolation", "lyapunov",
                     "measurement", "pca", "sharpness", "slice_1d", "slice_2d"]
SCHEDULES: list[str] = ["cosine", "one_cycle", "step"]
STOPPERS: list[str] = ["early_stopping", "target_accuracy", "target_loss"]
TEACHER_MATRICES: list[str] = ["diagonal", "low_rank", "random"]

#: models that need image inputs (N, C, H, W); the config check rejects them on flat data.
IMAGE_MODELS: list[str] = ["convnet", "resnet", "small_cnn"]
#: models that read token ids; they need the `text` set, and it needs one of them.
TOKEN_MODELS: list[str] = ["gpt"]
