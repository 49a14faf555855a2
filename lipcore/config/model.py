"""Keys of the `model` section (the union over models; each builder checks its own)."""
from lipcore.config.fields import Field

MODEL = {
    "name": Field(str, "mlp", choices="MODELS", help="model from the registry"),
    "layer": Field(str, None, nullable=True, help="Lipschitz layer name (Lipschitz models)"),
    "depth": Field(int, 2, min=1, help="number of hidden blocks"),
    "width": Field(int, 32, min=1, help="hidden width"),
    "activation": Field(str, "relu", choices="ACTIVATIONS", help="hidden activation"),
    "lipschitz": Field(float, 1.0, min=0.0, exclusive_min=True,
                       help="guaranteed Lipschitz constant of the whole network"),
    "model_seed": Field(int, 0, help="seed of the initialisation"),
    "in_features": Field(int, None, nullable=True, min=1, help="input size (default: from data)"),
    "out_features": Field(int, None, nullable=True, min=1, help="output size (default: from data)"),
}
