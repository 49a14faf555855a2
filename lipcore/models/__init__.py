"""Models by name: `build_model(model_cfg, dataset=None) -> nn.Module`, each with `.blocks`."""
from lipcore.models.base import MODELS, build_model
from lipcore.models import blockwise, convnet, deep_linear, lipschitz, mlp  # noqa: F401  (register)

__all__ = ["MODELS", "build_model"]
