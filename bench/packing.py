"""Packed sweeps against one run per job: runs per hour through the real API and worker.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/packing.py [--seeds 100] [--sine-epochs 8]
        [--linear-epochs 1500] [--only sine,linear,linear_nometrics] [--device cpu|cuda]
        [--modes packed,alone]

Starts an embedded lab (SQLite store, filesystem broker, the API and one worker process, as
`liplab up` runs them) and submits, per workload, a sweep over `model.model_seed` twice: with
`training.pack_size` = the number of seeds (one pack, one task) and with `training.pack_size: 1`
(one task per run, today's path). Runs per hour = runs / (last finish − first start), from the
runs' own timestamps, after an untimed warm-up (a two-member pack and one run alone, one
epoch each), so both timed sweeps meet a worker that has done its imports, as a lab's
long-lived worker has. Workloads: the sine LDLT net of the flossing preset at depth 7, width 16
(`configs/sine_flossing.yaml`), the deep linear network on the diagonal teacher
(`configs/diagonal_teacher.yaml`, with its metrics) and the same without its evaluation metrics
(training alone). Prints a Markdown table with the ratio (figures in docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live import LiveSystem  # noqa: E402

FINAL = ("succeeded", "failed", "diverged", "cancelled")


def preset(name: str, device: str) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    cfg.pop("probes", None)
    cfg["training"]["device"] = device
    return cfg


def workloads(args: argparse.Namespace) -> dict[str, dict]:
    sine = preset("sine_flossing", args.device)
    sine["model"].update(depth=7, width=16)
    sine["training"]["epochs"] = args.sine_epochs
    linear = preset("diagonal_teacher", args.device)
    linear["training"]["epochs"] = args.linear_epochs
    bare = copy.deepcopy(linear)
    bare["training"]["metrics"] = []
    return {"sine": sine, "linear": linear, "linear_nometrics": bare}


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sweep_rate(system: LiveSystem, name: str, cfg: dict, seeds: int, pack_size: int) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["training"]["pack_size"] = pack_size
    body = {"name": name, "config": cfg,
            "params": {"model.model_seed": ",".join(str(s) for s in range(seeds))}}
    r = system.client.post("/sweeps", json=body)
    assert r.status_code == 201, r.text
    sweep_id = r.json()["id"]
    while True:
        counts = system.client.get(f"/sweeps/{sweep_id}").json()["counts"]
        if sum(counts.get(s, 0) for s in FINAL) == seeds:
            break
        time.sleep(2.0)
    runs = system.client.get("/runs", params={"sweep_id": sweep_id, "limit": 1000}).json()["items"]
    bad = [r for r in runs if r["status"] != "succeeded"]
    for r in bad[:1]:  # the same seeds end the same way in both modes; say which and why
        print(f"{name}: run {r['id']} {r['status']}: {(r['error'] or '')[-300:]}", file=sys.stderr)
    wall = (max(stamp(r["finished_at"]) for r in runs)
            - min(stamp(r["started_at"]) for r in runs)).total_seconds()
    packs = len({r["pack_id"] for r in runs}) if runs[0]["pack_id"] else len(runs)
    print(f"{name}: {wall:.1f} s, {packs} jobs, {len(bad)} not succeeded", file=sys.stderr, flush=True)
    return {"wall_s": wall, "runs_per_hour": seeds * 3600 / wall, "jobs": packs,
            "not_succeeded": len(bad)}


def warm_up(system: LiveSystem, name: str, cfg: dict) -> None:
    """A two-member pack of one epoch and one run alone, untimed: the worker is a long-lived
    process in a lab, so neither timed sweep should pay its first imports and kernels (a cold
    worker's first pack paid ≈ 2 s of them, the alone sweep, run second, none)."""
    short = copy.deepcopy(cfg)
    short["training"]["epochs"] = 1
    sweep_rate(system, f"{name}-warmup-packed", short, 2, 2)
    sweep_rate(system, f"{name}-warmup-alone", short, 1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--sine-epochs", type=int, default=8)
    ap.add_argument("--linear-epochs", type=int, default=1500)
    ap.add_argument("--only", default="sine,linear,linear_nometrics")
    ap.add_argument("--device", default="cpu", help="training.device of every run (cpu, cuda)")
    ap.add_argument("--modes", default="packed,alone",
                    help="which sweeps to time: packed, alone or both (the ratio needs both)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    chosen = args.only.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as home, LiveSystem(Path(home), workers=1) as system:
        for name, cfg in workloads(args).items():
            if name not in chosen:
                continue
            warm_up(system, name, cfg)
            packed = sweep_rate(system, f"{name}-packed", cfg, args.seeds, args.seeds) \
                if "packed" in modes else None
            alone = sweep_rate(system, f"{name}-alone", cfg, args.seeds, 1) \
                if "alone" in modes else None
            rows.append((name, packed, alone))
            print(f"{name}: packed {packed}, alone {alone}", file=sys.stderr, flush=True)
    print(f"\n{args.seeds} seeds; sine epochs {args.sine_epochs}, deep linear epochs "
          f"{args.linear_epochs}; one worker process; device {args.device}\n")
    print("| workload | packed runs/h | one run per job runs/h | ratio | packed wall s | alone wall s "
          "| not succeeded (packed / alone) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, packed, alone in rows:
        if packed is None or alone is None:
            continue
        print(f"| {name} | {packed['runs_per_hour']:,.0f} | {alone['runs_per_hour']:,.0f} | "
              f"{packed['runs_per_hour'] / alone['runs_per_hour']:.1f}× | {packed['wall_s']:.1f} | "
              f"{alone['wall_s']:.1f} | {packed['not_succeeded']} / {alone['not_succeeded']} |")


if __name__ == "__main__":
    main()
