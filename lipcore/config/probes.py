"""Parameters of each probe (`probes: [{name: ..., <param>: ...}]`), torch-free.

`PROBE_PARAMS[name]` maps each parameter to its `Field` (type, default, bounds). The server can
validate a config's probe list without importing torch; `lipcore.probes` fills the defaults from
here, so a probe's defaults live in one place. A test keeps these keys equal to each probe
function's keyword arguments.
"""
from __future__ import annotations

from typing import Any

from lipcore.config.fields import Field


def _numbers(value: list) -> str | None:
    if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "must be a non-empty list of numbers"
    return None


NUMBERS = {"type": "array", "minItems": 1, "items": {"type": "number"}}
N_EXAMPLES = Field(int, 512, nullable=True, min=1, help="training examples used (null: all)")
SEED = Field(int, 0, help="seed of the random directions / vectors")
NORM = Field(str, "filter", choices=["filter", "layer", "none"], help="direction normalisation")

PROBE_PARAMS: dict[str, dict[str, Field]] = {
    "interpolation": {
        "start": Field(str, "init", help="init, final, or a checkpoint step as text"),
        "end": Field(str, "final", help="init, final, or a checkpoint step as text"),
        "alpha_min": Field(float, -0.5), "alpha_max": Field(float, 1.5),
        "n_points": Field(int, 41, min=2),
        "normalization": Field(str, "none", choices=["filter", "layer", "none"],
                               help="none keeps the endpoints at alpha 0 and 1"),
        "n_examples": N_EXAMPLES,
    },
    "slice_1d": {
        "distance": Field(float, 1.0, min=0.0, exclusive_min=True, help="alpha in [-d, d]"),
        "n_points": Field(int, 51, min=2), "normalization": NORM,
        "n_examples": N_EXAMPLES, "seed": SEED,
    },
    "slice_2d": {
        "distance": Field(float, 1.0, min=0.0, exclusive_min=True),
        "n_points": Field(int, 21, min=2), "normalization": NORM,
        "n_examples": N_EXAMPLES, "seed": SEED,
    },
    "hessian": {
        "k": Field(int, 5, min=1, help="top eigenvalues (largest magnitude)"),
        "max_iter": Field(int, 200, min=1,
                          help="at most this many Hessian-vector products (at least k)"),
        "tol": Field(float, 1e-5, min=0.0,
                     help="stop when each pair's residual ‖Hv − λv‖ ≤ tol·|λ|"),
        "trace_samples": Field(int, 50, min=1, help="Hutchinson probe vectors"),
        "density_vectors": Field(int, 2, min=0, help="SLQ runs (0: no density)"),
        "lanczos_steps": Field(int, 40, min=2), "density_points": Field(int, 200, min=10),
        "n_examples": N_EXAMPLES, "seed": SEED,
    },
    "sharpness": {
        "eps": Field(list, [1e-3, 5e-3, 1e-2, 5e-2], check=_numbers, schema=NUMBERS,
                     help="relative radii of the per-layer ball"),
        "n_samples": Field(int, 50, min=1, help="random perturbations per radius"),
        "ascent_steps": Field(int, 20, min=0, help="projected gradient-ascent steps (0: none)"),
        "region": Field(str, "layer_ball", choices=["layer_ball", "keskar_box"],
                        help="per-tensor ball ε‖w_l‖, or Keskar's box ε(|w_i|+1)"),
        "n_examples": N_EXAMPLES, "seed": SEED,
    },
    "connectivity": {
        "other": Field(str, None, nullable=True,
                       help="run directory or checkpoint of the second endpoint "
                            "(default: the context's first peer model)"),
        "n_points": Field(int, 25, min=2), "align": Field(bool, True,
                                                           help="weight-matching permutation"),
        "bezier_steps": Field(int, 200, min=0, help="training steps of the Bézier bend (0: none)"),
        "bezier_lr": Field(float, 1e-2, min=0.0, exclusive_min=True),
        "bezier_points": Field(int, 61, min=2),
        "n_examples": N_EXAMPLES, "seed": SEED,
    },
    "pca": {
        "n_points": Field(int, 21, min=2, help="grid points per axis"),
        "margin": Field(float, 0.2, min=0.0, help="grid padding around the path, relative"),
        "n_examples": N_EXAMPLES,
    },
    "lyapunov": {
        "k": Field(int, 4, min=1, help="exponents per checkpoint when computed"),
        "n_examples": Field(int, 64, nullable=True, min=1),
    },
    "certified": {
        "eps": Field(list, [0.0, 36 / 255, 72 / 255, 108 / 255, 1.0], check=_numbers, schema=NUMBERS),
        "lipschitz": Field(float, None, nullable=True, min=0.0, exclusive_min=True,
                           help="network Lipschitz bound (default: model.lipschitz_bound)"),
        "n_pairs": Field(int, 2000, min=1, help="pairs for the empirical constant"),
        "n_examples": Field(int, 1024, nullable=True, min=1, help="test examples"),
        "seed": SEED,
    },
    "measurement": {
        "batch_size": Field(int, 256, min=1), "n_steps": Field(int, 20, min=2),
        "n_warmup": Field(int, 2, min=1),
        "optimizer": Field(str, None, nullable=True, choices="OPTIMIZERS",
                           help="default: the run's training.optimizer"),
        "lr": Field(float, None, nullable=True, min=0.0, exclusive_min=True,
                    help="default: the run's training.lr"),
        "budget_s": Field(float, None, nullable=True, min=0.0, exclusive_min=True,
                          help="time budget → epoch budget"),
    },
}


def _check(name: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(params with defaults filled, [(param key, problem)]); raises for an unknown probe."""
    fields = PROBE_PARAMS.get(name)
    if fields is None:
        raise ValueError(f"probes.name: unknown probe {name!r}; choose one of "
                         f"{', '.join(sorted(PROBE_PARAMS))}")
    out, problems = {}, []
    for key, value in params.items():
        if key in ("name", "label"):
            continue
        if key not in fields:
            problems.append((key, f"unknown parameter; allowed: {', '.join(fields)}"))
            continue
        try:
            out[key] = fields[key].coerce(value)
        except ValueError as e:
            problems.append((key, str(e)))
    for key, f in fields.items():
        out.setdefault(key, f.default)
    return out, problems


def check_probe_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` with defaults filled and types checked; ValueError naming `probes.<name>.<key>`."""
    out, problems = _check(name, params)
    if problems:
        raise ValueError("; ".join(f"probes.{name}.{k}: {m}" for k, m in problems))
    return out


def probe_list_issues(probes: list) -> list[tuple[str, str]]:
    """(dotted key, message) for every problem in a config's `probes` list, for the config
    validator: `issues += [Issue(k, m) for k, m in probe_list_issues(out["probes"])]`."""
    issues: list[tuple[str, str]] = []
    for i, spec in enumerate(probes):
        if not isinstance(spec, dict) or "name" not in spec:
            issues.append((f"probes.{i}", "must be a mapping with a 'name'"))
            continue
        if not isinstance(spec["name"], str):
            issues.append((f"probes.{i}.name", f"must be a probe name, got {spec['name']!r}"))
            continue
        try:
            _, problems = _check(spec["name"], spec)
        except ValueError as e:
            issues.append((f"probes.{i}.name", str(e).partition(": ")[2]))
            continue
        issues += [(f"probes.{i}.{k}", m) for k, m in problems]
    return issues
