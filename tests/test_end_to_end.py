"""The walking skeleton, for real: REST → SQL store → Celery worker → lipcore → metrics.

No mocks: a real API process, a real worker process, a real database and broker.
"""
from __future__ import annotations

import pytest
import yaml

from pathlib import Path

QUICK = yaml.safe_load((Path(__file__).parents[1] / "configs" / "quickstart.yaml").read_text())


def submit_and_finish(system, epochs: int = 5) -> dict:
    config = {**QUICK, "training": {**QUICK["training"], "epochs": epochs}}
    r = system.client.post("/runs", json={"config": config})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "queued"
    return system.wait_run(r.json()["id"])


def check_run(system, run: dict, epochs: int) -> None:
    assert run["status"] == "succeeded", run["error"]
    series = system.client.get(f"/runs/{run['id']}/metrics", params={"keys": "train_loss"}).json()
    steps = series["train_loss"]["step"]
    assert len(steps) == epochs and steps == sorted(set(steps))
    assert series["train_loss"]["value"][-1] < series["train_loss"]["value"][0]
    assert run["summary"]["train_loss"]["last"] == pytest.approx(series["train_loss"]["value"][-1])


@pytest.mark.slow
def test_embedded_run_is_executed_by_a_real_worker(embedded_system):
    run = submit_and_finish(embedded_system)
    check_run(embedded_system, run, 5)
    health = embedded_system.client.get("/health").json()
    assert health["status"] == "ok" and health["broker"] == "ok"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_lab_run_on_postgres_and_redis(lab_system):
    run = submit_and_finish(lab_system)
    check_run(lab_system, run, 5)


def test_bad_config_is_a_422_naming_the_key(embedded_system):
    r = embedded_system.client.post("/runs", json={"config": {"training": {"lrr": 1}}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "config", "training", "lrr"]
    assert embedded_system.client.get("/runs/999999").status_code == 404
