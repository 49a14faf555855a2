"""`liplab run`: outputs/<name>/<timestamp>/ with config, overrides, metrics, checkpoints, figures."""
import json
from pathlib import Path

import yaml

from liplab.cli import main

ROOT = Path(__file__).parents[3]


def test_liplab_run_writes_the_run_folder(tmp_path, capsys):
    code = main(["run", str(ROOT / "configs/quickstart.yaml"), "training.epochs=3",
                 "training.lr=0.02",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    (run_dir,) = (tmp_path / "quickstart").iterdir()
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["training"]["epochs"] == 3 and cfg["training"]["lr"] == 0.02
    assert json.loads((run_dir / "overrides.json").read_text()) == {
        "training.epochs": "3", "training.lr": "0.02"}
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == [4, 8, 12]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[-1] == "step_00000012.pt"
    assert {"loss.png", "lr.png"} <= {p.name for p in (run_dir / "figures").iterdir()}
    assert (run_dir / "figures/loss.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded" and str(run_dir) in capsys.readouterr().out


def test_liplab_run_resumes_a_folder_without_duplicating_points(tmp_path):
    main(["run", str(ROOT / "configs/quickstart.yaml"), "training.epochs=3", "--out",
          str(tmp_path), "--quiet"])
    (run_dir,) = (tmp_path / "quickstart").iterdir()
    before = (run_dir / "metrics.jsonl").read_text()
    assert main(["run", str(ROOT / "configs/quickstart.yaml"), "training.epochs=3", "--quiet",
                 "--resume", str(run_dir)]) == 0
    assert (run_dir / "metrics.jsonl").read_text() == before


def test_bad_override_is_an_error_naming_the_key(tmp_path, capsys):
    code = main(["run", str(ROOT / "configs/quickstart.yaml"), "training.lrr=1", "--out", str(tmp_path)])
    assert code == 2 and "training.lrr" in capsys.readouterr().err
    code = main(["run", str(ROOT / "configs/quickstart.yaml"), "data.online=true",
                 "training.batch_size=null", "--out", str(tmp_path)])
    assert code == 2 and "training.batch_size" in capsys.readouterr().err
    assert not (tmp_path / "quickstart").exists()


def test_blockwise_run_draws_the_hessian_heat_map(tmp_path):
    code = main(["run", str(ROOT / "configs/blockwise_digits.yaml"), "training.rounds=4",
                 "training.measurement_every=2", "training.eval_every=2", "--out", str(tmp_path),
                 "--quiet"])
    assert code == 0
    (run_dir,) = (tmp_path / "blockwise_digits").iterdir()
    figures = {p.name for p in (run_dir / "figures").iterdir()}
    assert {"hessian_block_interaction.png", "loss.png", "accuracy.png"} <= figures
