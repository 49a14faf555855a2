"""A pack trained in-process, timed or profiled: where a round's time goes without the lab.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/pack_profile.py [--members 32] [--epochs 300]
        [--bare] [--profile tottime|cumtime]

Trains `--members` deep linear networks of `configs/diagonal_teacher.yaml` (members differ in
`model.model_seed`; `--bare`: without its evaluation metrics) as one pack through `run_pack`,
after a two-member pack has done the imports, and prints the wall time (and, with
`--profile`, cProfile's top entries by that key). Figures in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lipcore.pack_run import run_pack  # noqa: E402


def configs(members: int, epochs: int, bare: bool) -> list[dict]:
    cfg = yaml.safe_load((ROOT / "configs" / "diagonal_teacher.yaml").read_text())
    cfg["training"].update(epochs=epochs, device="cpu")
    if bare:
        cfg["training"]["metrics"] = []
    out = []
    for seed in range(members):
        member = copy.deepcopy(cfg)
        member["model"]["model_seed"] = seed
        out.append(member)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--profile", choices=["tottime", "cumtime"])
    args = parser.parse_args()
    cfgs = configs(args.members, args.epochs, args.bare)
    run_pack(cfgs[:2])
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    summaries = run_pack(cfgs)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    statuses = {s["status"] for s in summaries}
    print(f"{args.members} members, {args.epochs} epochs{' bare' if args.bare else ''}: "
          f"{wall:.2f} s ({', '.join(sorted(statuses))})")
    if profiler:
        pstats.Stats(profiler).sort_stats(args.profile).print_stats(30)


if __name__ == "__main__":
    main()
