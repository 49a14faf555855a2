"""`liplab run`: one experiment in-process, with a progress bar, into `outputs/<name>/<time>/`.

The folder holds config.yaml (validated, defaults filled), overrides.json, metrics.jsonl,
checkpoints/step_*.pt, measurements/, probes/, figures/*.png and summary.json. Passing an
existing folder as `resume_dir` continues that run from its newest checkpoint.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from lipcore.config import validate
from lipcore.reporting import JsonlReporter


def run_local(config: dict[str, Any], overrides: list[str] | None = None,
              out_root: str | Path = "outputs", progress: bool = True,
              resume_dir: str | Path | None = None) -> tuple[Path, dict]:
    """Run `config` (overrides already applied) and write its outputs; (folder, summary)."""
    from tqdm.auto import tqdm

    import lipcore.training.loop  # noqa: F401  (import torch before the bar's clock starts)
    from lipcore.experiment import run_experiment
    from lipcore.figures import write_figures

    cfg = validate(config)
    if resume_dir is not None:
        out = Path(resume_dir)
        if not (out / "checkpoints").is_dir():
            raise FileNotFoundError(f"--resume: no checkpoints folder in {out}")
    else:
        out = Path(out_root) / cfg["name"] / time.strftime("%Y%m%d-%H%M%S")
        while out.exists():  # two runs in the same second get distinct folders
            out = out.with_name(out.name + "_")
        out.mkdir(parents=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        pairs = dict(o.partition("=")[::2] for o in overrides or [])
        (out / "overrides.json").write_text(json.dumps(pairs, indent=2))
    bar = tqdm(desc=cfg["name"], unit="step", disable=not progress)

    class BarReporter(JsonlReporter):
        def log(self, values: dict[str, float], step: int) -> None:
            super().log(values, step)
            if "train_loss" in values:
                bar.set_postfix(loss=f"{values['train_loss']:.4g}")

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    reporter = BarReporter(out / "metrics.jsonl")
    summary = run_experiment(cfg, reporter, progress=advance, workdir=out,
                             resume_from="auto" if resume_dir is not None else None)
    bar.close()
    summary["figures"] = [str(p) for p in write_figures(out)]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return out, summary
