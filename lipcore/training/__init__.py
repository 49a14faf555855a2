"""The training loop and what plugs into it."""
from lipcore.training.loop import DivergedError, TrainResult, train

__all__ = ["DivergedError", "TrainResult", "train"]
