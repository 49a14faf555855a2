"""Time and memory per Lipschitz layer family and ConvNet size on this machine.

    python bench/layers.py                      # CPU (or CUDA when visible), default sizes
    python bench/layers.py --device cuda --sizes XS S M L --batch 256
    python bench/layers.py --quick --json PATH  # make bench: the per-family table only

`--quick`/`--smoke` (make bench) measure only the per-family table at one linear and one conv
size, with an eval-mode forward column (`module.eval()`, `torch.no_grad()`, median of
`--n-batches`) beside the training step: an evaluation should cost the unconstrained layer plus
the cached weight's application, so its ratio to the unconstrained layer's eval forward is shown.

Prints a Markdown table (one row per layer or model): parameters, median forward+backward
time per batch with its interquartile range, peak memory and the exact saved-activation bytes
(`lipcore.measure`). A benchmark, not a test: the figures go into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
from types import SimpleNamespace

import torch

from lipcore.layers import CONV_LAYERS, LAYERS
from lipcore.measure import measure
from lipcore.models import build_model


def eval_forward_s(module: torch.nn.Module, x: torch.Tensor, n: int) -> float:
    """Median seconds of an eval-mode forward without autograd (2 warm-up calls dropped)."""
    import statistics
    import time

    module.eval()
    times = []
    with torch.no_grad():
        for i in range(n + 2):
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            module(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            if i >= 2:
                times.append(time.perf_counter() - t)
    module.train()
    return statistics.median(times)


def layer_rows(args: argparse.Namespace):
    dev = torch.device(args.device)
    for name in [] if args.skip_layers else LAYERS.names():
        layer = LAYERS[name](args.width, args.width).to(dev)
        x = torch.randn(args.batch, args.width, device=dev)
        yield f"linear {name}", {**measure(layer, x, n_batches=args.n_batches),
                                 "time/eval_forward_s": eval_forward_s(layer, x, args.n_batches)}
    for name in [] if args.skip_layers else CONV_LAYERS.names():
        layer = CONV_LAYERS[name](args.channels, args.channels, 3).to(dev)
        x = torch.randn(args.batch, args.channels, args.image, args.image, device=dev)
        yield f"conv {name}", {**measure(layer, x, n_batches=args.n_batches),
                               "time/eval_forward_s": eval_forward_s(layer, x, args.n_batches)}


def rows(args: argparse.Namespace):
    yield from layer_rows(args)
    dev = torch.device(args.device)
    sine = SimpleNamespace(in_features=1, out_features=1)
    for name in args.net_layers:  # seed 000's sine networks: depth × width, batch 64
        model = build_model({"name": "lipschitz_sequential", "layer": name, "depth": args.net_depth,
                             "width": args.net_width}, sine).to(dev)
        yield (f"sequential {name} {args.net_depth}×{args.net_width}",
               measure(model, torch.randn(64, 1, device=dev), n_batches=args.n_batches))
    data = SimpleNamespace(in_features=3 * 32 * 32, out_features=10, input_shape=(3, 32, 32))
    for size in args.sizes:
        for name in args.model_layers:
            model = build_model({"name": "convnet", "size": size, "layer": name}, data).to(dev)
            x = torch.randn(args.model_batch, 3, 32, 32, device=dev)
            y = torch.randint(0, 10, (args.model_batch,), device=dev)
            yield f"ConvNet{size} {name}", measure(model, x, y, torch.nn.CrossEntropyLoss(),
                                                   n_batches=args.n_batches, warmup=2)


def family_table(args: argparse.Namespace):
    """The per-family table of `make bench` (bench.harness.Table)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.harness import Table

    t = Table("layers", f"Layers ({args.device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)): "
              f"linear batch {args.batch} × {args.width} → {args.width}; conv batch {args.batch} × "
              f"{args.channels} ch × {args.image}², k 3; medians of {args.n_batches} batches",
              ["what", "params", "train step ms (IQR)", "eval forward ms", "eval / unconstrained eval",
               "peak MiB", "saved act. MiB"], plot_unit="train step ms")
    got = list(layer_rows(args))
    base = {label.split()[0]: r["time/eval_forward_s"] for label, r in got if label.endswith("unconstrained")}
    for label, r in got:
        ev = r["time/eval_forward_s"]
        t.rows.append([label, f"{r['params']:,}", f"{1e3 * r['time/batch_s']:.2f} ({1e3 * r['time/batch_s_iqr']:.2f})",
                       f"{1e3 * ev:.3f}", f"{ev / base[label.split()[0]]:.1f}×",
                       f"{r['memory/peak_bytes'] / 2**20:.1f}", f"{r['memory/saved_activations_bytes'] / 2**20:.2f}"])
        t.plot[label] = (1e3 * r["time/batch_s"], 1e3 * r["time/batch_s_min"], 1e3 * r["time/batch_s_max"])
    t.notes.append("An evaluation pass ought to cost the unconstrained layer plus the cached weight's "
                   "application; the ratio column shows how far each family is from that (the eval-mode "
                   "caching is lipcore's, docs/layers.md). Peak memory on the CPU is the sampled RSS growth.")
    return t


def main() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.harness import emit, size

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--width", type=int, default=256, help="linear layers: in = out features")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--image", type=int, default=16)
    p.add_argument("--sizes", nargs="*", default=["XS"], help="ConvNet sizes (XS S M L)")
    p.add_argument("--model-layers", nargs="*", default=["aol", "cpl", "soc", "unconstrained"])
    p.add_argument("--model-batch", type=int, default=32)
    p.add_argument("--net-layers", nargs="*", default=["ldlt", "aol", "cpl", "sll", "orthogonal", "unconstrained"])
    p.add_argument("--net-depth", type=int, default=9)
    p.add_argument("--net-width", type=int, default=64)
    p.add_argument("--skip-layers", action="store_true", help="only the networks and ConvNets")
    p.add_argument("--n-batches", type=int, default=20)
    args = p.parse_args()
    if args.quick or args.smoke or args.json:
        if args.quick or args.smoke:  # one linear and one conv size, small enough for the suite
            args.width, args.batch = size(args, args.width, 128, 16), size(args, args.batch, 64, 8)
            args.channels, args.image = size(args, args.channels, 8, 4), size(args, args.image, 8, 6)
        emit([family_table(args)], args.json)
        return
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else platform.processor() or platform.machine()}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    print(f"linear: batch {args.batch} × width {args.width}; conv: batch {args.batch} × {args.channels} ch × "
          f"{args.image}²; ConvNet: batch {args.model_batch} × 3 × 32²; {args.n_batches} timed batches")
    print()
    print("| what | params | time/batch ms (median) | IQR ms | peak MiB | method | saved act. MiB |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for label, r in rows(args):
        print(f"| {label} | {r['params']:,} | {1e3 * r['time/batch_s']:.2f} | {1e3 * r['time/batch_s_iqr']:.2f} | "
              f"{r['memory/peak_bytes'] / 2**20:.1f} | {r['memory/method']} | "
              f"{r['memory/saved_activations_bytes'] / 2**20:.2f} |", flush=True)


if __name__ == "__main__":
    main()
