"""The training engine: the loop and what plugs into it (callbacks, stoppers, metrics, …)."""
from lipcore.training.loop import DivergedError, Engine, TrainResult, train

__all__ = ["DivergedError", "Engine", "TrainResult", "train"]
