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
PROBES: list[str] = ["certified", "connectivity", "hessian", "interpolation", "lyapunov", "measurement",
          "pca", "sharpness", "slice_1d", "slice_2d"]
LOSSES += ["offset_cross_entropy"]

# --- training engine (issue 4) ---
DATASETS += ["circles", "cifar10", "cifar100", "digits", "gaussians", "mnist", "moons", "svhn",
             "teacher", "text", "xor"]
TEACHER_MATRICES = ["diagonal", "low_rank", "random"]
SCHEDULES += ["cosine", "one_cycle", "step"]
CALLBACKS += ["lr_decay", "multi_switch_batch_size", "switch_batch_size"]
STOPPERS += ["early_stopping", "target_accuracy", "target_loss"]
METRICS += ["grad_norm", "lyapunov", "trace_covariances", "weight_norm"]
COMPARATIVE_METRICS = ["param_cosine_sim", "param_distance"]
MEASUREMENTS = ["hessian_block_interaction", "memory"]
#: models that need image inputs (N, C, H, W); the config check rejects them on flat data.
IMAGE_MODELS: list[str] = ["convnet", "resnet", "small_cnn"]
#: models that read token ids; they need the `text` set, and it needs one of them.
TOKEN_MODELS: list[str] = ["gpt"]
#: figures a study file may list under `sweep.figures` (lipcore.study_figures).
STUDY_FIGURES = ["curves", "heatmap", "probe", "radar", "ranking", "saxe", "table"]
