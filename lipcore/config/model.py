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


def layer_names() -> list[str]:
    """Every layer a Lipschitz model accepts: ldlt, then the linear and conv families."""
    from lipcore import catalog

    return ["ldlt"] + sorted(set(catalog.LAYERS) | set(catalog.CONV_LAYERS))


MODEL.update({
    "layer": Field(str, None, nullable=True, choices=layer_names,
                   help="Lipschitz layer name (Lipschitz models; ldlt for LDLT networks)"),
    "preset": Field(str, None, nullable=True,
                    choices=["shallow-small", "shallow-wide", "deep-small", "deep-large", "medium"],
                    help="mlp preset depth × width (seed 003); overrides depth and width"),
    "init": Field(str, "auto", choices=["auto", "he", "xavier"],
                  help="mlp initialisation; auto = He for relu-like, Xavier otherwise"),
    "gamma": Field(float, 1.0, min=0.0, exclusive_min=True,
                   help="deep_linear init scale: weights ~ N(0, fan_in^-gamma)"),
    "interior": Field(int, 5, min=1, help="lipschitz_stacked: maps per outer block"),
    "size": Field(str, "XS", choices=["XS", "S", "M", "L"], help="convnet size (width 16/32/64/128)"),
    "kernel_size": Field(int, 3, min=1, help="conv kernel size (odd)"),
    "blocks": Field(list, None, nullable=True,
                    help="feedforward widths / small_cnn, resnet channels, e.g. [128, 64, 32]"),
    "n_head": Field(int, 2, min=1, help="gpt attention heads"),
    "input_shape": Field(list, None, nullable=True, help="(C, H, W) of images (default: from data)"),
    "in_channels": Field(int, None, nullable=True, min=1, help="image channels (default: from data)"),
    "n_classes": Field(int, None, nullable=True, min=1, help="classes (default: from data)"),
})
