"""Packed sweeps against one run per job: runs per hour through the real API and worker.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/packing.py [--seeds 100] [--sine-epochs 8]
        [--linear-epochs 1500] [--only sine,linear,linear_nometrics] [--device cpu|cuda]
        [--modes packed,alone] [--quick | --smoke] [--json PATH]

Starts an embedded lab (SQLite store, filesystem broker, the API and one worker process, as
`liplab up` runs them) and submits, per workload, a sweep over `model.model_seed` twice: with
`training.pack_size` = the number of seeds (one pack, one task) and with `training.pack_size: 1`
(one task per run, today's path). Runs per hour = runs / (last finish − first start), from the
runs' own timestamps, after an untimed warm-up (a two-member pack and one run alone, one
epoch each), so both timed sweeps meet a worker that has done its imports, as a lab's
long-lived worker has. Workloads: the sine LDLT net of the flossing preset at depth 7, width 16
(`configs/sine_flossing.yaml`), the deep linear network on the diagonal teacher
(`configs/diagonal_teacher.yaml`, with its metrics) and the same without its evaluation metrics
(training alone). Prints a Markdown table with the ratio and the aim (≥ 10× for the sine and
the bare deep linear sweeps); `make bench` runs it as its `packing` family (quick: 16 seeds,
sine 2 epochs, deep linear 300).
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


LABELS = {"sine": "sine LDLT d7 w16, flossing", "linear": "deep linear, with its metrics",
          "linear_nometrics": "deep linear, training only"}


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
    submitted = time.monotonic()
    while True:
        counts = system.client.get(f"/sweeps/{sweep_id}").json()["counts"]
        if sum(counts.get(s, 0) for s in FINAL) == seeds:
            break
        # the figures come from the runs' own timestamps, not from this loop; it polls often
        # while a sweep is young (smoke sweeps take a second) and at most every 2 s later, so
        # a long timed sweep shares its CPU with few requests
        time.sleep(min(2.0, 0.1 + 0.1 * (time.monotonic() - submitted)))
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


AIM, AIM_SEEDS = 10.0, 100  # packed runs per hour over one run per job, for a 100-seed sweep


def main() -> None:
    from bench.harness import Aim, Table, emit, parser, size

    ap = parser(__doc__)
    ap.add_argument("--seeds", type=int, default=None, help="runs a sweep (100; quick 16; smoke 2)")
    ap.add_argument("--sine-epochs", type=int, default=None, help="8 (quick 2, smoke 1)")
    ap.add_argument("--linear-epochs", type=int, default=None, help="1500 (quick 300, smoke 5)")
    ap.add_argument("--only", default="sine,linear,linear_nometrics")
    ap.add_argument("--modes", default="packed,alone",
                    help="which sweeps to time: packed, alone or both (the ratio needs both)")
    args = ap.parse_args()
    args.seeds = args.seeds or size(args, 100, 16, 2)
    args.sine_epochs = args.sine_epochs or size(args, 8, 2, 1)
    args.linear_epochs = args.linear_epochs or size(args, 1500, 300, 5)
    modes, chosen = args.modes.split(","), args.only.split(",")
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
    t = Table("packing", f"Packed sweeps: {args.seeds} seeds in one pack against one run per job, "
              f"through the API and one worker process (embedded store), {args.device}; sine "
              f"{args.sine_epochs} epochs, deep linear {args.linear_epochs} epochs",
              ["workload", "packed runs/h", "one run per job runs/h", "ratio", "packed wall s",
               "alone wall s", "not succeeded (packed / alone)"], plot_unit="packed / alone runs per hour")
    for name, packed, alone in rows:
        if packed is None or alone is None:
            continue
        r = packed["runs_per_hour"] / alone["runs_per_hour"]
        t.rows.append([LABELS[name], f"{packed['runs_per_hour']:,.0f}", f"{alone['runs_per_hour']:,.0f}",
                       f"{r:.1f}×", f"{packed['wall_s']:.1f}", f"{alone['wall_s']:.1f}",
                       f"{packed['not_succeeded']} / {alone['not_succeeded']}"])
        t.plot[name] = (r, r, r)
        if name != "linear":  # the aim is the training sweeps'; the metrics variant is extra
            judged = args.seeds >= AIM_SEEDS  # a small pack's fixed costs weigh more: not the aim's
            t.aims.append(Aim(f"{LABELS[name]}: packed over one run per job, {args.seeds} seeds",
                              f"≥ {AIM:.0f}× at {AIM_SEEDS} seeds", f"{r:.1f}×",
                              r >= AIM if judged else None))
    emit([t], args.json)


if __name__ == "__main__":
    main()
