"""Hessian of the loss in the parameters, through Hessian-vector products only (torch.func).

- `top_eigenvalues`: the largest-*magnitude* eigenvalues as PyHessian reports them (so a
  negative eigenvalue can appear), by band Lanczos from k random start vectors with full
  re-orthogonalisation (`lipcore.probes.krylov`), stopped on each Ritz pair's residual.
  `power_iteration` (with deflation, PyHessian's method) is kept: on the benchmark MLPs at
  tol 1e-3 it takes about twice the products for a thousandfold larger error
  (docs/benchmarks.md "Hessian").
- `trace`: Hutchinson's estimator E[vᵀHv] with Rademacher v; `trace_estimate` adds its standard
  error (sample std / √n).
- `spectral_density`: stochastic Lanczos quadrature (Ghorbani et al.): per random start vector,
  m Lanczos steps with full re-orthogonalisation give Ritz values θ_i and weights τ_i (squared
  first components of the tridiagonal's eigenvectors); the density is Σ τ_i N(t; θ_i, σ²)
  averaged over start vectors.

The HVP is the pullback of grad(L) (reverse-over-reverse, torch.func), built once per batch
and summed over batches weighted by size.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.krylov import HVP, Krylov, top_eigenpairs
from lipcore.probes.params import as_batches, flatten, floats, get_params, loss_at, unflatten


def make_hvp(model: nn.Module, loss_fn: Callable, data: Any) -> tuple[HVP, int]:
    """(v ↦ H v, number of parameters P) at the model's current parameters; v: (P,).

    Per batch, the gradient g(θ) is taken once with its graph (`create_graph`), and every
    product is the vector-Jacobian product of g with v (H is symmetric, so that is Hv): one
    backward pass through the stored graph, not a new forward (the graphs of all batches stay
    in memory while the operator lives). Plain double backward rather than a `torch.func.vjp`
    pullback of `grad`: the same products, ≈ 12 % less time each on the CPU (no functorch
    wrapping per op).
    """
    params = get_params(model)
    flat0 = flatten(params).detach()
    batches = as_batches(data)
    n_total = sum(x.shape[0] for x, _ in batches)
    gradients = []
    for x, y in batches:
        flat = flat0.clone().requires_grad_()
        with torch.enable_grad():
            loss = loss_at(model, unflatten(flat, params), loss_fn, [(x, y)])
            grad = torch.autograd.grad(loss, flat, create_graph=True)[0]
        gradients.append((grad, flat, x.shape[0] / n_total))

    def hvp(v: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(flat0)
        for grad, flat, weight in gradients:
            if not grad.requires_grad:  # a loss linear in θ: H = 0
                continue
            hv = torch.autograd.grad(grad, flat, grad_outputs=v, retain_graph=True, allow_unused=True)[0]
            if hv is not None:
                out += hv * weight
        return out

    return hvp, flat0.numel()


def _orthogonalise(v: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    for u in basis:
        v = v - torch.dot(v, u) * u
    return v


def power_iteration(hvp: HVP, dim: int, k: int, max_iter: int = 200, tol: float = 1e-6,
                    seed: int = 0, dtype=torch.float32, device="cpu"):
    """Top-k (by magnitude) eigenpairs of the operator `hvp` on R^dim.

    Stops each eigenvalue when its relative change falls below `tol`. Returns
    (eigenvalues: list[float], eigenvectors: list[Tensor (dim,)], iterations: list[int]).
    """
    if k > dim:
        raise ValueError(f"hessian.k: {k} eigenvalues asked of a {dim}-parameter model")
    g = torch.Generator().manual_seed(seed)
    values, vectors, iters = [], [], []
    for _ in range(k):
        v = torch.randn(dim, generator=g, dtype=dtype).to(device)
        v = _orthogonalise(v, vectors)
        v = v / v.norm()
        lam, it = 0.0, 0
        for it in range(1, max_iter + 1):
            hv = _orthogonalise(hvp(v), vectors)  # deflation of the pairs already found
            new = float(torch.dot(hv, v))
            size = hv.norm()
            if size == 0:
                lam = 0.0
                break
            v = hv / size
            converged = it > 1 and abs(new - lam) <= tol * (abs(lam) + 1e-12)
            lam = new
            if converged:
                break
        values.append(lam)
        vectors.append(v)
        iters.append(it)
    return values, vectors, iters


def top_eigenvalues(model: nn.Module, loss_fn: Callable, data: Any, k: int,
                    max_iter: int = 200, tol: float = 1e-6, seed: int = 0) -> list[float]:
    """The k largest-magnitude Hessian eigenvalues, largest first, by band Lanczos
    (`top_eigenpairs`: residual ‖Hv − λv‖ ≤ tol·|λ|, at most max_iter products);
    data: (x, y) or a list of (x, y) batches."""
    hvp, dim = make_hvp(model, loss_fn, data)
    p = next(model.parameters())
    return top_eigenpairs(hvp, dim, k, max_iter, tol, seed, p.dtype, p.device).values


def hutchinson(hvp: HVP, dim: int, n_samples: int, seed: int = 0, dtype=torch.float32,
               device="cpu") -> tuple[float, float, list[float]]:
    """(mean of vᵀHv, its standard error, the samples) over Rademacher v."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n_samples):
        v = (torch.randint(0, 2, (dim,), generator=g) * 2 - 1).to(dtype).to(device)
        samples.append(float(torch.dot(v, hvp(v))))
    mean = sum(samples) / n_samples
    var = sum((s - mean) ** 2 for s in samples) / max(n_samples - 1, 1)
    return mean, math.sqrt(var / n_samples), samples


def trace_estimate(model: nn.Module, loss_fn: Callable, data: Any, n_samples: int,
                   seed: int = 0) -> tuple[float, float, list[float]]:
    """Hutchinson: (mean of vᵀHv, its standard error, the samples), v Rademacher."""
    hvp, dim = make_hvp(model, loss_fn, data)
    p = next(model.parameters())
    return hutchinson(hvp, dim, n_samples, seed, p.dtype, p.device)


def trace(model: nn.Module, loss_fn: Callable, data: Any, n_samples: int, seed: int = 0) -> float:
    """Hutchinson estimate of tr H (the mean of `trace_estimate`)."""
    return trace_estimate(model, loss_fn, data, n_samples, seed)[0]


def lanczos(hvp: HVP, v0: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ritz values (m,) and quadrature weights (m,) of `steps` Lanczos steps from v0 (P,)
    (fewer if the Krylov space is invariant): the weights are the squared first components
    of T's eigenvectors."""
    space = Krylov(hvp, v0[None], steps + 1)
    while space.applied < steps and not space.exhausted:
        space.step()
    nodes, vecs, _ = space.ritz()
    return nodes, vecs[0] ** 2


def slq(hvp: HVP, dim: int, n_vectors: int = 2, steps: int = 40, n_points: int = 200,
        sigma: float | None = None, seed: int = 0, dtype=torch.float32, device="cpu") -> dict:
    """SLQ density of the operator: {"grid", "density", "nodes", "weights", "sigma"}."""
    g = torch.Generator().manual_seed(seed)
    runs = []
    for _ in range(n_vectors):
        v0 = (torch.randint(0, 2, (dim,), generator=g) * 2 - 1).to(dtype).to(device)
        runs.append(lanczos(hvp, v0, min(steps, dim)))
    lo = min(float(n.min()) for n, _ in runs)
    hi = max(float(n.max()) for n, _ in runs)
    sigma = sigma or max(hi - lo, 1e-8) / 100
    grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, n_points, dtype=torch.float64)
    density = torch.zeros_like(grid)
    for nodes, weights in runs:
        kern = torch.exp(-((grid[:, None] - nodes[None, :]) ** 2) / (2 * sigma ** 2))
        density += (kern * weights[None, :]).sum(1) / (sigma * math.sqrt(2 * math.pi))
    density /= n_vectors
    return {"grid": floats(grid), "density": floats(density), "sigma": sigma,
            "nodes": [floats(n) for n, _ in runs], "weights": [floats(w) for _, w in runs]}


def spectral_density(model: nn.Module, loss_fn: Callable, data: Any, n_vectors: int = 2,
                     steps: int = 40, n_points: int = 200, sigma: float | None = None,
                     seed: int = 0) -> dict:
    """SLQ density of the loss Hessian (see `slq`)."""
    hvp, dim = make_hvp(model, loss_fn, data)
    p = next(model.parameters())
    return slq(hvp, dim, n_vectors, steps, n_points, sigma, seed, p.dtype, p.device)


@PROBES.register("hessian")
def hessian_probe(ctx: ProbeContext, *, k, max_iter, tol, trace_samples, density_vectors,
                  lanczos_steps, density_points, n_examples, seed) -> dict:
    """Top-k eigenvalues, Hutchinson trace and (optionally) the SLQ density at the final model."""
    model = ctx.model.eval()
    data = ctx.train_xy(n_examples)
    hvp, dim = make_hvp(model, ctx.loss_fn, data)
    p = next(model.parameters())
    top = top_eigenpairs(hvp, dim, min(k, dim), max_iter, tol, seed, p.dtype, p.device)
    values = top.values
    tr, tr_se, _ = hutchinson(hvp, dim, trace_samples, seed, p.dtype, p.device)
    out = {"eigenvalues": values, "residuals": top.residuals, "converged": top.converged,
           "products": top.products, "trace": tr, "trace_stderr": tr_se,
           "trace_samples": trace_samples, "n_params": dim, "n_examples": int(data[0].shape[0]),
           "metrics": {"hessian/top_eigenvalue": values[0], "hessian/trace": tr}}
    if density_vectors:
        out["density"] = slq(hvp, dim, density_vectors, lanczos_steps, density_points,
                             seed=seed, dtype=p.dtype, device=p.device)
    return out
