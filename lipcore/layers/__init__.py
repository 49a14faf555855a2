"""Lipschitz layers by name (docs/layers.md).

`LAYERS[name](in_features, out_features, **kw)` and
`CONV_LAYERS[name](in_channels, out_channels, kernel_size, **kw)`; every instance has
`lipschitz_bound` (math.inf for `unconstrained`) that holds for any parameter value, in train
and eval mode. `ACTIVATIONS[name]()` builds an activation. Importing this package registers all.
"""
from lipcore.layers.base import CONV_LAYERS, LAYERS, LipschitzLayer
from lipcore.layers.activations import ACTIVATIONS, LIPSCHITZ as ACTIVATION_LIPSCHITZ
from lipcore.layers import (  # noqa: F401  (each module registers its layers)
    aol,
    bcop,
    bjorck,
    cayley,
    cpl,
    lot,
    orthogonal,
    sandwich,
    sll,
    soc,
    spectral,
    unconstrained,
)

__all__ = ["ACTIVATIONS", "ACTIVATION_LIPSCHITZ", "CONV_LAYERS", "LAYERS", "LipschitzLayer"]
