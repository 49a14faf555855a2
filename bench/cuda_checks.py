"""Correctness on a CUDA device before any timing: packed vs solo, CUDA vs CPU, in float64.

    python bench/cuda_checks.py [--device cuda]

For each case of the packed-training tests (sine LDLT with flossing, deep linear network,
residual LDLT, MLP on moons; members differ in seeds and learning rate) this runs every member
alone on the device, the same members as one pack on the device, and each member alone on the
CPU, all in float64, and prints the largest relative difference of any logged value
(packed vs solo on the device; device vs CPU). The oracle for the pack is the solo run; the
oracle for the device is the CPU, which the test suite checks against analytic values.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lipcore.experiment import run_experiment  # noqa: E402
from lipcore.pack_run import run_pack  # noqa: E402
from lipcore.reporting import ListReporter  # noqa: E402
from tests.lipcore.training.test_pack import CASES, variants  # noqa: E402


def on(cfgs: list[dict], device: str) -> list[dict]:
    out = copy.deepcopy(cfgs)
    for cfg in out:
        cfg["training"]["device"] = device
    return out


def solo(cfgs: list[dict]) -> list[ListReporter]:
    reps = []
    for cfg in cfgs:
        rep = ListReporter()
        summary = run_experiment(cfg, rep)
        assert summary["status"] == "succeeded", summary
        reps.append(rep)
    return reps


def worst(a: list[ListReporter], b: list[ListReporter]) -> tuple[float, str]:
    """Largest |x − y| / max(|x|, 1e-12) over every (member, step, key) logged by both."""
    top, where = 0.0, ""
    for i, (ra, rb) in enumerate(zip(a, b)):
        pa = {(s, k): v for s, k, v in ra.points}
        pb = {(s, k): v for s, k, v in rb.points}
        if pa.keys() != pb.keys():
            return float("inf"), f"member {i}: logged keys differ"
        for key, x in pa.items():
            y = pb[key]
            rel = abs(x - y) / max(abs(x), 1e-12)
            if not rel <= top:  # NaN counts as worst
                top, where = rel, f"member {i} step {key[0]} {key[1]}"
    return top, where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    print(f"torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    print("| case | members | packed vs solo (device) | device vs CPU (solo) | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    failed = False
    for name, (base, changes) in CASES.items():
        t0 = time.perf_counter()
        cfgs = variants(base, changes)
        alone = solo(on(cfgs, args.device))
        packed = [ListReporter() for _ in cfgs]
        for summary in run_pack(on(cfgs, args.device), packed):
            assert summary["status"] == "succeeded", summary
        cpu = solo(on(cfgs, "cpu"))
        pack_err, pack_at = worst(alone, packed)
        dev_err, dev_at = worst(cpu, alone)
        failed |= not (pack_err <= 1e-6 and dev_err <= 1e-6)
        print(f"| {name} | {len(cfgs)} | {pack_err:.1e} {pack_at if pack_err > 1e-6 else ''} | "
              f"{dev_err:.1e} {dev_at if dev_err > 1e-6 else ''} | {time.perf_counter() - t0:.1f} |",
              flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
