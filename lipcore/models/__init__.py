"""Models by name: `build_model(model_cfg, dataset=None) -> nn.Module`, each with `.blocks`."""
from lipcore.models.base import MODELS, build_model
from lipcore.models import mlp  # noqa: F401  (registers)

__all__ = ["MODELS", "build_model"]
