"""Keys of the `flossing` section (gradient flossing, Engelken 2023)."""
from lipcore.config.fields import Field

FLOSSING = {
    "enabled": Field(bool, False),
    "weight": Field(float, 0.1, min=0.0, help="weight of mean(λ²) in the loss"),
    "frequency": Field(int, 1, min=1, help="floss every N steps"),
    "num_exponents": Field(int, 4, min=1, help="k, the number of Lyapunov exponents"),
    "pre_epochs": Field(int, 0, min=0, help="epochs of flossing alone before training"),
    "batch_size": Field(int, 16, min=1, nullable=True,
                        help="examples of each batch the exponents are averaged over"),
    "seed": Field(int, 0, help="seed of the initial orthonormal tangents Q0"),
    "qr_every": Field(int, 1, min=1,
                      help="re-orthonormalise the tangents every N blocks (1: after each; larger is "
                           "cheaper and equal in exact arithmetic while (λ1 − λk)·N stays well below 16)"),
}
