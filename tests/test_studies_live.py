"""Every study file, cut down to 2 runs (overrides plus `--scale`), goes through `liplab study`
against a real API process and a real Celery worker: submitted, waited for, every run ending
succeeded, and the study report written with its figures."""
from __future__ import annotations

from pathlib import Path

import pytest

from liplab.study import study

STUDIES = Path(__file__).parents[1] / "configs" / "studies"

SMOKE = {  # file → (overrides leaving 2 runs, scale)
    "000_sine_grid": (["model.depth=3", "model.width=16", "model.model_seed=0",
                       "training.batch_seed=0", "training.epochs=2"], 0.125),
    "001_deep_linear": (["name=full_batch,lockstep", "model.model_seed=0",
                         "training.batch_seed=0"], 0.02),
    "002_blockwise": (["model.name=feedforward", "model.model_seed=0", "training.batch_seed=0"],
                      0.1),
    "003_landscape": (["model.depth=1", "model.activation=relu", "training.optimizer=adam",
                       "data.name=moons,xor", "training.epochs=2"], 0.25),
    "004_lipschitz_layers": (["model.layer=orthogonal"], 0.125),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKE))
def test_study_smoke_runs_through_api_and_worker(embedded_system, tmp_path, name, capsys):
    overrides, scale = SMOKE[name]
    out = tmp_path / name
    code = study(str(STUDIES / f"{name}.yaml"), overrides, api_url=embedded_system.url,
                 token=None, scale=scale, out=str(out), wait=True, poll_s=0.3)
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err + embedded_system.logs()
    assert ", 2 runs " in printed.out
    assert "2 succeeded" in printed.out, printed.out
    text = (out / "study.md").read_text()
    assert "2 runs, 2 succeeded" in text
    assert list((out / "figures").glob("*.png")) or "radar" not in text
    assert (out / "report" / "summary.md").exists()


def test_study_refuses_a_bad_member_with_the_api_naming_the_key(embedded_system, tmp_path,
                                                               capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ndata: {name: sine}\nmodel: {name: mlp}\n"
                    "sweep: {params: {model.depth: [1, 0]}}\n")
    assert study(str(path), [], api_url=embedded_system.url, token=None) == 2
    err = capsys.readouterr().err
    assert "model.depth" in err and "must be >= 1" in err


@pytest.mark.slow
def test_an_edited_study_reports_only_its_new_runs(embedded_system, tmp_path, capsys):
    """The edited file is the same sweep (skip-completed), which keeps the old members; the
    study's report counts the members of this submission only."""
    path = tmp_path / "edited.yaml"
    text = ("name: edited\ndata: {name: sine, n_train: 32, n_test: 32}\n"
            "model: {name: mlp, depth: 1, width: 4}\ntraining: {epochs: EPOCHS, device: cpu}\n"
            "sweep: {params: {model.model_seed: [0, 1]}, figures: [{name: table, by: "
            "model.model_seed, columns: [test_loss]}]}\n")
    for epochs in (1, 2):
        path.write_text(text.replace("EPOCHS", str(epochs)))
        assert study(str(path), [], api_url=embedded_system.url, token=None,
                     out=str(tmp_path / "out"), wait=True, poll_s=0.3) == 0
    sweeps = embedded_system.client.get("/sweeps").json()["items"]
    assert [s["n_runs"] for s in sweeps if s["name"] == "edited"] == [4]
    assert "2 runs, 2 succeeded" in (tmp_path / "out" / "study.md").read_text()


@pytest.mark.slow
def test_overwrite_trains_again_from_scratch(embedded_system, tmp_path):
    """Re-running succeeded members deletes their points; the worker then must not resume from
    the old attempt's final checkpoint (which would log nothing) but train again."""
    path = tmp_path / "again.yaml"
    path.write_text("name: again\ndata: {name: sine, n_train: 32, n_test: 32}\n"
                    "model: {name: mlp, depth: 1, width: 4}\n"
                    "training: {epochs: 3, batch_size: 16, device: cpu}\n"
                    "sweep: {params: {model.model_seed: [0, 1]}, figures: []}\n")
    series = []
    for overwrite in (False, True):
        assert study(str(path), [], api_url=embedded_system.url, token=None, wait=True,
                     out=str(tmp_path / "out"), overwrite=overwrite, poll_s=0.3) == 0
        ids = sorted(r["id"] for r in embedded_system.client.get("/runs").json()["items"]
                     if r["name"].startswith("again"))
        series.append([embedded_system.client.get(f"/runs/{i}/metrics",
                                                  params={"keys": "train_loss"}).json()
                       for i in ids])
    assert series[1] == series[0]  # the same 3 epochs, logged again, bit-identical
    assert all(len(s["train_loss"]["step"]) == 3 for s in series[1])
