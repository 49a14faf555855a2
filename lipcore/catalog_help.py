"""One line per registered name, torch-free: what an editor shows beside each choice.

`lipcore.config.jsonschema` attaches these to the enums of the published config schema;
`tests/lipcore/test_config_jsonschema.py` keeps a description for every name in `lipcore.catalog`.
"""

LAYERS = {
    "aol": "Almost-Orthogonal Layer: W·diag(Σ|WᵀW|)^-½, 1-Lipschitz by rescaling",
    "bjorck": "Björck-orthonormalised weight (exactly orthogonal at convergence, bound exact)",
    "cayley": "Cayley transform of a skew-symmetric matrix: exactly orthogonal",
    "cpl": "Convex Potential Layer: x − 2/‖W‖²·Wᵀσ(Wx+b)",
    "orthogonal": "orthogonal weight by the matrix exponential of a skew-symmetric matrix",
    "sandwich": "Sandwich layer (Wang & Manchester): a 1-Lipschitz product of Cayley factors",
    "sll": "SDP-based Lipschitz Layer: residual with a certified diagonal rescaling",
    "soc": "Skew-Orthogonal Convolution/linear: truncated exponential divided by its tail bound",
    "spectral": "weight divided by its exact spectral norm (SVD)",
    "unconstrained": "plain linear or conv layer (no Lipschitz guarantee; baseline)",
    "bcop": "Block Convolution Orthogonal Parameterisation: exactly orthogonal conv",
    "lot": "Layer-wise Orthogonal Training conv, normalised per frequency",
    "ldlt": "LDLT network layer: whole-network constant model.lipschitz guaranteed",
}

MODELS = {
    "mlp": "multi-layer perceptron (seed 003 presets, He/Xavier init)",
    "convnet": "ConvNet XS–L over a Lipschitz conv layer (needs image data)",
    "deep_linear": "deep linear network with init scale gamma",
    "feedforward": "feed-forward net with widths model.blocks",
    "gpt": "small character-level GPT (needs data.name: text)",
    "lipschitz_residual": "residual network of Lipschitz layers (model.layer)",
    "lipschitz_sequential": "sequential network of Lipschitz layers (model.layer)",
    "lipschitz_stacked": "stacked network of Lipschitz maps, model.interior per block",
    "resnet": "small ResNet with channels model.blocks (needs image data)",
    "small_cnn": "small CNN with channels model.blocks (needs image data)",
}

DATASETS = {
    "sine": "1-d regression onto a sine (online capable)",
    "teacher": "linear teacher y = Tx, diagonal/random/low-rank (online capable)",
    "moons": "two interleaved half circles (online capable)",
    "circles": "two concentric circles (online capable)",
    "gaussians": "data.n_classes Gaussian clusters in data.in_dim dimensions (online capable)",
    "xor": "XOR of signs in data.in_dim dimensions (online capable)",
    "digits": "scikit-learn 8×8 digits (flat, or images with data.image: true)",
    "text": "character-level text for token models (gpt)",
    "mnist": "MNIST from data.root (never downloaded)",
    "cifar10": "CIFAR-10 from data.root (never downloaded)",
    "cifar100": "CIFAR-100 from data.root (never downloaded)",
    "svhn": "SVHN from data.root (never downloaded)",
}

METRICS = {
    "grad_norm": "norm of the full gradient on the test set",
    "lyapunov": "Lyapunov exponents along the model's blocks",
    "trace_covariances": "traces of the gradient and weight covariances",
    "weight_norm": "norm of all weights",
    "param_cosine_sim": "comparative: cosine similarity of model A's and B's parameters",
    "param_distance": "comparative: distance between model A's and B's parameters",
}

CALLBACKS = {
    "lr_decay": "multiply the learning rate by a factor at given steps",
    "switch_batch_size": "change the batch size once at a given step",
    "multi_switch_batch_size": "change the batch size at several steps",
}

STOPPERS = {
    "early_stopping": "stop when the test loss stops improving for a patience",
    "target_accuracy": "stop once an accuracy target is reached",
    "target_loss": "stop once a loss target is reached",
}

PROBES = {
    "interpolation": "loss along the line θ_init → θ_final (or two checkpoints)",
    "slice_1d": "loss along one random filter-normalised direction",
    "slice_2d": "loss over a plane of two random filter-normalised directions",
    "hessian": "top-k Hessian eigenvalues, Hutchinson trace, SLQ spectral density",
    "sharpness": "random and gradient-ascent ε-sharpness",
    "connectivity": "loss barrier between two models: straight line and Bézier curve",
    "pca": "PCA plane of the weight trajectory with a loss grid",
    "lyapunov": "Lyapunov exponents per checkpoint",
    "certified": "certified robust accuracy and the empirical Lipschitz constant",
    "measurement": "time per batch, peak memory and the epoch budget",
}
