"""Time and memory per Lipschitz layer family and ConvNet size on this machine.

    python bench/layers.py                      # CPU (or CUDA when visible), default sizes
    python bench/layers.py --device cuda --sizes XS S M L --batch 256

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


def rows(args: argparse.Namespace):
    dev = torch.device(args.device)
    for name in [] if args.skip_layers else LAYERS.names():
        layer = LAYERS[name](args.width, args.width).to(dev)
        yield f"linear {name}", measure(layer, torch.randn(args.batch, args.width, device=dev),
                                        n_batches=args.n_batches)
    for name in [] if args.skip_layers else CONV_LAYERS.names():
        layer = CONV_LAYERS[name](args.channels, args.channels, 3).to(dev)
        x = torch.randn(args.batch, args.channels, args.image, args.image, device=dev)
        yield f"conv {name}", measure(layer, x, n_batches=args.n_batches)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
