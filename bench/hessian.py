"""Top Hessian eigenvalues: lipcore.probes.hessian against PyHessian 0.1 and a dense oracle.

    OMP_NUM_THREADS=1 python bench/hessian.py [--repeats 3] [--quick] [--json PATH]
    make bench  # runs it in the peers' venv (.venv-bench), where PyHessian is installed

For each MLP size: the time of `top_eigenvalues` (double-backward HVPs, band Lanczos from k
start vectors, stopped on the relative residual ‖Hv − λv‖ ≤ tol·|λ|) and of PyHessian's
`hessian(...).eigenvalues()` (power iteration with deflation, stopped on the relative change of
each eigenvalue) on the same model and batch in the same process, both called with PyHessian's
defaults (100 iterations, tol 1e-3; lipcore's 100 caps all products, PyHessian's each
eigenvalue's; the residual is the stricter test), the median of `--repeats`, each repeat from
its own random start for both (seed = repeat); then both at a tight tolerance (1e-7, 2000
iterations) for the values, and the dense float64 `torch.autograd.functional.hessian` where
the model is small enough. PyHessian (`pip install -e '.[bench]'`) is optional: without it
only lipcore and the dense oracle run.
Prints a Markdown table (docs/benchmarks.md "## Hessian" records one).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from lipcore.probes.hessian import top_eigenvalues
from lipcore.probes.params import flatten, get_params, loss_at, unflatten

try:
    from pyhessian import hessian as PyHessian
except ImportError:  # optional `bench` extra
    PyHessian = None


def problem(width: int, depth: int, n: int = 512, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = ((x[:, 0] * x[:, 1]) > 0).long()  # XOR quadrants: a non-trivial landscape
    torch.manual_seed(seed)
    sizes = [2] + [width] * depth + [2]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, nn.CrossEntropyLoss(), x, y


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def dense_top(model, loss_fn, x, y, k):
    m = model.double()
    params = get_params(m)
    h = torch.autograd.functional.hessian(
        lambda f: loss_at(m, unflatten(f, params), loss_fn, [(x.double(), y)]), flatten(params))
    model.float()
    ev = torch.linalg.eigvalsh(h)
    return ev[ev.abs().argsort(descending=True)][:k].tolist()


def main() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.harness import Aim, Table, cell, emit, parser, ratio, size, spread

    ap = parser(__doc__)
    ap.add_argument("--repeats", type=int, default=None, help="interleaved timings (3; quick 3)")
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()
    k, repeats = args.k, args.repeats or size(args, 3, 3, 1)
    models = size(args, ((16, 2), (64, 2), (256, 3)), ((16, 2), (64, 2)), ((16, 2),))
    t = Table("hessian", f"Top-{k} Hessian eigenvalues: lipcore vs PyHessian "
              f"{'0.1' if PyHessian else '(not installed)'}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s); time at PyHessian's defaults (100 iterations, tol 1e-3), "
              f"median (min–max) of {repeats} interleaved runs; values at tol 1e-7",
              ["model", "params", "lipcore s", "PyHessian s", "lipcore / PyHessian", "lipcore λ",
               "PyHessian λ", "max rel diff", "dense λ", "lipcore vs dense"], plot_unit="lipcore / PyHessian time")
    fmt = lambda v: "–" if v is None else ", ".join(f"{e:.5g}" for e in v)  # noqa: E731
    for width, depth in models:
        model, loss_fn, x, y = problem(width, depth)
        n_params = sum(p.numel() for p in model.parameters())
        ours_t, theirs_t = [], []
        for rep in range(repeats):  # alternate, so a burst of load hits both; each repeat its
            # own random start for both (the count of products depends on the start)
            ours_t.append(timed(lambda: top_eigenvalues(model, loss_fn, (x, y), k, 100, 1e-3, seed=rep), 1)[0])
            if PyHessian is not None:
                torch.manual_seed(rep)
                theirs_t.append(timed(lambda: PyHessian(model, loss_fn, data=(x, y), cuda=False)
                                      .eigenvalues(maxIter=100, tol=1e-3, top_n=k)[0], 1)[0])
        ours = top_eigenvalues(model, loss_fn, (x, y), k, 2000, 1e-7)
        theirs, rel = None, float("nan")
        if PyHessian is not None:
            theirs = PyHessian(model, loss_fn, data=(x, y), cuda=False).eigenvalues(
                maxIter=2000, tol=1e-7, top_n=k)[0]
            rel = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
        dense, rel_dense = None, float("nan")
        if n_params <= 5000:
            dense = dense_top(model, loss_fn, x, y, k)
            rel_dense = max(abs(a - b) / abs(b) for a, b in zip(ours, dense))
        r = ratio(ours_t, theirs_t)
        name = f"MLP {depth}×{width}"
        t.rows.append([name, f"{n_params:,}", cell(ours_t, digits=3),
                       cell(theirs_t, digits=3) if theirs_t else "not installed",
                       cell(r, digits=2) + "×" if r else "–", fmt(ours), fmt(theirs), f"{rel:.1e}",
                       fmt(dense), f"{rel_dense:.1e}"])
        if r:
            t.plot[name] = spread(r)
            m = spread(r)[0]
            t.aims.append(Aim(f"{name}: time against PyHessian", "on par (≤ 1.25×)", f"{m:.2f}×", m <= 1.25))
            t.aims.append(Aim(f"{name}: eigenvalues against PyHessian", "≤ 1e-3 relative", f"{rel:.1e}", rel <= 1e-3))
        else:
            t.aims.append(Aim(f"{name}: time against PyHessian", "on par (≤ 1.25×)", "PyHessian not installed", None))
    emit([t], args.json)


if __name__ == "__main__":
    main()
