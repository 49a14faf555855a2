"""`liplab run`: one experiment in-process, with a progress bar, into `outputs/<name>/<time>/`."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from lipcore.config import validate
from lipcore.reporting import JsonlReporter


def run_local(config: dict[str, Any], overrides: list[str] | None = None,
              out_root: str | Path = "outputs", progress: bool = True) -> tuple[Path, dict]:
    """Run `config` (overrides already applied) and write config, overrides, metrics, summary.

    Returns (output directory, summary).
    """
    from tqdm.auto import tqdm

    from lipcore.experiment import run_experiment

    cfg = validate(config)
    out = Path(out_root) / cfg["name"] / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (out / "overrides.txt").write_text("\n".join(overrides or []) + "\n")
    bar = tqdm(total=cfg["training"]["epochs"], desc=cfg["name"], unit="epoch",
               disable=not progress)

    class BarReporter(JsonlReporter):
        def log(self, values: dict[str, float], step: int) -> None:
            super().log(values, step)
            if "train_loss" in values:
                bar.set_postfix(loss=f"{values['train_loss']:.4g}")

    def advance(done: int, total: int) -> None:
        bar.update(done - bar.n)

    summary = run_experiment(cfg, BarReporter(out / "metrics.jsonl"), progress=advance,
                             workdir=out)
    bar.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return out, summary
