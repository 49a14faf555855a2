"""Small models and data the probe tests share: a quadratic with a known Hessian, tiny MLPs."""
from __future__ import annotations

import torch
from torch import nn

from lipcore.data.base import Dataset
from lipcore.probes import ProbeContext


class Quadratic(nn.Module):
    """model(x) returns θ itself; with `QuadraticLoss(A)` the loss is ½ θᵀAθ, Hessian A."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta


class QuadraticLoss:
    def __init__(self, a: torch.Tensor):
        self.a = a

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * out @ self.a @ out


def matrix_with_spectrum(eigs: list[float], seed: int = 0) -> torch.Tensor:
    """Q diag(eigs) Qᵀ with a random orthogonal Q, float64."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def mlp(sizes: list[int], seed: int = 0, act=nn.Tanh, dtype=torch.float64) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers).to(dtype)


def blobs(n: int = 64, d: int = 2, classes: int = 2, seed: int = 0,
          dtype=torch.float64) -> Dataset:
    """Gaussian blobs, one per class, as a classification `Dataset`."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g, dtype=dtype) * 2
    y = torch.arange(2 * n) % classes
    x = centres[y] + 0.7 * torch.randn(2 * n, d, generator=g, dtype=dtype)
    return Dataset(x[:n], y[:n], x[n:], y[n:], "classification", classes)


def train(model: nn.Module, data: Dataset, steps: int = 200, lr: float = 0.05, seed: int = 0,
          checkpoint_every: int | None = None) -> list[tuple[int, dict]]:
    """Full-batch Adam on cross-entropy; returns [(step, state_dict)] incl. init and final."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ckpts = [(0, {k: v.clone() for k, v in model.state_dict().items()})]
    for step in range(1, steps + 1):
        loss = nn.functional.cross_entropy(model(data.x_train), data.y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if checkpoint_every and step % checkpoint_every == 0 and step != steps:
            ckpts.append((step, {k: v.clone() for k, v in model.state_dict().items()}))
    ckpts.append((steps, {k: v.clone() for k, v in model.state_dict().items()}))
    return ckpts


def context(model: nn.Module, data: Dataset, **kw) -> ProbeContext:
    return ProbeContext(model=model, data=data, loss_fn=nn.CrossEntropyLoss(), **kw)
