"""Keys of the `training` section."""
from lipcore.config.fields import Field

TRAINING = {
    "optimizer": Field(str, "adam", choices="OPTIMIZERS"),
    "lr": Field(float, 1e-3, min=0.0, exclusive_min=True, help="learning rate"),
    "momentum": Field(float, 0.0, min=0.0, max=1.0, help="SGD momentum"),
    "weight_decay": Field(float, 0.0, min=0.0),
    "batch_size": Field(int, 64, nullable=True, min=1, help="null for full batch"),
    "epochs": Field(int, 20, min=0),
    "batch_seed": Field(int, 0, help="seed of the batch order"),
    "loss": Field(str, None, nullable=True, choices="LOSSES", help="default: by dataset task"),
    "device": Field(str, "auto", help="auto (cuda when visible, else cpu), cpu, cuda, cuda:N"),
    "grad_clip": Field(float, None, nullable=True, min=0.0, exclusive_min=True,
                       help="max gradient norm"),
}
