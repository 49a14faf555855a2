"""Parameters as data: flatten, evaluate the loss at any θ, and filter-normalised directions.

Every landscape probe moves a model through parameter space without touching the model
itself: a point θ is a dict name → tensor (the model's `named_parameters`), and the loss
at θ is computed with `torch.func.functional_call`, so the trained weights are never edited.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]


def get_params(model: nn.Module) -> Params:
    """A detached copy of the model's trainable parameters, in registration order."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def params_from_state(model: nn.Module, state: dict[str, torch.Tensor]) -> Params:
    """The trainable parameters of `state` (a state_dict) in the model's order; checks names/shapes."""
    own = get_params(model)
    missing = [n for n in own if n not in state]
    if missing:
        raise ValueError(f"checkpoint does not match the model: missing {', '.join(missing[:5])}")
    out = {}
    for n, p in own.items():
        t = state[n]
        if tuple(t.shape) != tuple(p.shape):
            raise ValueError(f"checkpoint does not match the model: {n} has shape "
                             f"{tuple(t.shape)}, model expects {tuple(p.shape)}")
        out[n] = t.detach().to(device=p.device, dtype=p.dtype).clone()
    return out


def flatten(params: Params) -> torch.Tensor:
    """All tensors concatenated: (P,)."""
    return torch.cat([t.reshape(-1) for t in params.values()])


def unflatten(vec: torch.Tensor, like: Params) -> Params:
    """Inverse of `flatten`, shapes taken from `like`."""
    out, i = {}, 0
    for n, t in like.items():
        out[n] = vec[i:i + t.numel()].view_as(t)
        i += t.numel()
    if i != vec.numel():
        raise ValueError(f"vector has {vec.numel()} entries, parameters have {i}")
    return out


def axpy(base: Params, *terms: tuple[float, Params]) -> Params:
    """base + Σ coef·direction, tensor by tensor."""
    out = {n: t.clone() for n, t in base.items()}
    for coef, d in terms:
        for n in out:
            out[n] = out[n] + coef * d[n]
    return out


def sub(a: Params, b: Params) -> Params:
    return {n: a[n] - b[n] for n in a}


def dot(a: Params, b: Params) -> float:
    return float(sum((a[n] * b[n]).sum() for n in a))


def norm(a: Params) -> float:
    return dot(a, a) ** 0.5


def as_batches(data: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`data` as a list of (x, y) pairs: a pair, an iterable of pairs, or a `Dataset` (train split)."""
    if hasattr(data, "x_train"):
        return [(data.x_train, data.y_train)]
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return [(data[0], data[1])]
    batches = list(data)
    if not batches:
        raise ValueError("data: no batches given")
    return batches


def loss_at(model: nn.Module, params: Params, loss_fn: Callable,
            batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Mean loss over all examples at θ = params (a differentiable scalar tensor)."""
    total, count = 0.0, 0
    for x, y in batches:
        out = functional_call(model, params, (x,))
        total = total + loss_fn(out, y) * x.shape[0]
        count += x.shape[0]
    return total / count


@torch.no_grad()
def evaluate_at(model: nn.Module, params: Params, loss_fn: Callable, x: torch.Tensor,
                y: torch.Tensor) -> tuple[float, float | None]:
    """(mean loss, accuracy) at θ; accuracy is None unless y holds integer class labels."""
    out = functional_call(model, params, (x,))
    loss = float(loss_fn(out, y))
    acc = None
    if not torch.is_floating_point(y) and out.dim() == 2:
        acc = float((out.argmax(1) == y).float().mean())
    return loss, acc


def random_direction(params: Params, generator: torch.Generator) -> Params:
    """A standard-normal direction shaped like `params` (drawn on the CPU, reproducible)."""
    return {n: torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)
            for n, t in params.items()}


def filter_normalise(direction: Params, params: Params, eps: float = 1e-10) -> Params:
    """Li et al.'s filter normalisation ("biasbn"): each output row of a weight of more than one
    dimension is rescaled to the norm of the same row of `params`; 1-D tensors (biases, norm
    scales) get a zero direction."""
    out = {}
    for n, d in direction.items():
        w = params[n]
        if d.dim() <= 1:
            out[n] = torch.zeros_like(d)
            continue
        d_rows = d.reshape(d.shape[0], -1)
        w_rows = w.reshape(w.shape[0], -1)
        scale = w_rows.norm(dim=1, keepdim=True) / (d_rows.norm(dim=1, keepdim=True) + eps)
        out[n] = (d_rows * scale).view_as(d)
    return out


def layer_normalise(direction: Params, params: Params, eps: float = 1e-10) -> Params:
    """Each tensor of the direction rescaled to the norm of the same tensor of `params`."""
    return {n: d * (params[n].norm() / (d.norm() + eps)) for n, d in direction.items()}


NORMALISATIONS = {
    "filter": filter_normalise,
    "layer": layer_normalise,
    "none": lambda d, p: {n: t.clone() for n, t in d.items()},
}


def normalise(direction: Params, params: Params, how: str, key: str = "normalization") -> Params:
    """Apply the normalisation called `how` (filter, layer or none)."""
    if how not in NORMALISATIONS:
        raise ValueError(f"{key}: unknown normalisation {how!r}; choose one of "
                         f"{', '.join(sorted(NORMALISATIONS))}")
    return NORMALISATIONS[how](direction, params)


def floats(t: Any) -> list:
    """A tensor or array as nested Python floats (JSON-serialisable)."""
    if torch.is_tensor(t):
        return t.detach().cpu().double().tolist()
    return [float(v) for v in t]
