"""Keys of the `flossing` section (gradient flossing, Engelken 2023)."""
from lipcore.config.fields import Field

FLOSSING = {
    "enabled": Field(bool, False),
    "weight": Field(float, 0.1, min=0.0, help="weight of mean(λ²) in the loss"),
    "frequency": Field(int, 1, min=1, help="floss every N steps"),
    "num_exponents": Field(int, 4, min=1, help="k, the number of Lyapunov exponents"),
}
