"""A pack trained in-process, timed or profiled: where a round's time goes without the lab.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/pack_profile.py [--workload linear|sine]
        [--members 32] [--epochs N] [--bare] [--alone] [--checkpoints] [--profile tottime|cumtime]

Trains `--members` copies of a workload (members differ in `model.model_seed`) as one pack
through `run_pack`, after a two-member pack has done the imports, and prints the wall time
(and, with `--profile`, cProfile's top entries by that key); `--alone`: the same configs one
after another through `run_experiment` instead (the solo path, for the ratio);
`--checkpoints`: each member with a work folder, so it writes its checkpoints as in the lab
(`checkpoint_every`: a tenth of the steps by default). Workloads, as
`bench/packing.py`'s: `linear`, the deep linear network of `configs/diagonal_teacher.yaml`
(default 300 epochs; `--bare`: without its evaluation metrics); `sine`, the LDLT net of
`configs/sine_flossing.yaml` at depth 7, width 16 with flossing (default 2 epochs). Figures
in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lipcore.experiment import run_experiment  # noqa: E402
from lipcore.pack_run import run_pack  # noqa: E402


WORKLOADS = {"linear": ("diagonal_teacher", {}, 300), "sine": ("sine_flossing", {"depth": 7, "width": 16}, 2)}


def configs(workload: str, members: int, epochs: int | None, bare: bool) -> list[dict]:
    name, model, default_epochs = WORKLOADS[workload]
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    cfg.pop("probes", None)
    cfg["model"].update(model)
    cfg["training"].update(epochs=epochs or default_epochs, device="cpu")
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
    parser.add_argument("--workload", choices=list(WORKLOADS), default="linear")
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--alone", action="store_true")
    parser.add_argument("--checkpoints", action="store_true")
    parser.add_argument("--profile", choices=["tottime", "cumtime"])
    args = parser.parse_args()
    cfgs = configs(args.workload, args.members, args.epochs, args.bare)
    run_pack(cfgs[:2])
    home = Path(tempfile.mkdtemp()) if args.checkpoints else None
    dirs = [home / str(i) if home else None for i in range(len(cfgs))]
    train = (lambda cs: [run_experiment(c, workdir=d) for c, d in zip(cs, dirs)]) if args.alone \
        else (lambda cs: run_pack(cs, workdirs=dirs))
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    summaries = train(cfgs)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    statuses = {s["status"] for s in summaries}
    print(f"{args.workload}: {args.members} members{' alone' if args.alone else ''}, "
          f"{cfgs[0]['training']['epochs']} epochs{' bare' if args.bare else ''}"
          f"{' checkpoints' if home else ''}: "
          f"{wall:.2f} s ({', '.join(sorted(statuses))})")
    if profiler:
        pstats.Stats(profiler).sort_stats(args.profile).print_stats(30)
    if home:
        shutil.rmtree(home)


if __name__ == "__main__":
    main()
