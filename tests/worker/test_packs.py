"""Packed sweeps through the real API and a real worker (embedded store and broker): a sweep
of alike members trains as packs, each member keeps its own run row, status and metrics; a
sweep that mixes packable and unpackable members ends with every run accounted for; a pack
whose worker is SIGKILLed completes every member once, each with every step."""
from __future__ import annotations

import os
import signal

import pytest

from tests.live import LiveSystem
from tests.worker.lab import FAST
from tests.worker.test_faults import STEPS_PER_EPOCH, config, reference, stored_steps, wait_for


def submit_sweep(system, cfg: dict, params: dict) -> list[int]:
    r = system.client.post("/sweeps", json={"config": cfg, "params": params})
    assert r.status_code == 201, r.text
    return r.json()["run_ids"]


def train_losses(system, run_id: int) -> tuple[list[int], list[float]]:
    series = system.client.get(f"/runs/{run_id}/metrics", params={"keys": "train_loss"}).json()
    return series["train_loss"]["step"], series["train_loss"]["value"]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    live = LiveSystem(tmp_path_factory.mktemp("packs"), workers=1)
    live.env.update(FAST)
    with live:
        yield live


def test_a_mixed_sweep_trains_in_packs_and_accounts_for_every_run(system):
    cfg = config(epochs=4, name="mixed")
    cfg["training"]["rounds"] = 4
    ids = submit_sweep(system, cfg, {"model.model_seed": "0,1,2",
                                     "training.mode": "entire,blockwise_sequential"})
    runs = [system.wait_run(i) for i in ids]
    assert [r["status"] for r in runs] == ["succeeded"] * 6, [r["error"] for r in runs]
    by_mode: dict[str, set] = {}
    for run in runs:
        by_mode.setdefault(run["config"]["training"]["mode"], set()).add(run["pack_id"])
    assert len(by_mode["entire"]) == 1 and len(by_mode["blockwise_sequential"]) == 1
    assert None not in by_mode["entire"] and by_mode["entire"] != by_mode["blockwise_sequential"]
    for run in runs:
        steps, values = train_losses(system, run["id"])
        expected = reference(run["config"])
        assert steps == sorted(expected)
        assert values == pytest.approx([expected[s] for s in steps], rel=1e-4)


def test_a_sweep_with_pack_size_one_trains_every_run_alone(system):
    cfg = config(epochs=2, name="alone")
    cfg["training"]["pack_size"] = 1
    ids = submit_sweep(system, cfg, {"model.model_seed": "0,1"})
    runs = [system.wait_run(i) for i in ids]
    assert [(r["status"], r["pack_id"]) for r in runs] == [("succeeded", None)] * 2


@pytest.mark.slow
def test_a_sigkilled_pack_completes_every_member_once(system):
    cfg = config(epochs=300, name="killed")
    ids = submit_sweep(system, cfg, {"model.model_seed": "0,1,2"})
    wait_for(lambda: len(stored_steps(system, ids[0])) >= 3, 60, "no points", system)
    worker = system.client.get(f"/runs/{ids[0]}").json()["worker"]
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
    system.start_worker("w-after-kill")
    runs = [system.wait_run(i, timeout=240) for i in ids]
    assert [r["status"] for r in runs] == ["succeeded"] * 3, [r["error"] for r in runs]
    for run in runs:
        assert run["attempts"] >= 2 and run["pack_id"] == ids[0]
        steps, values = train_losses(system, run["id"])
        assert steps == [STEPS_PER_EPOCH * (e + 1) for e in range(300)]  # each step once
        expected = reference(run["config"])
        assert values == pytest.approx([expected[s] for s in steps], rel=1e-4)
