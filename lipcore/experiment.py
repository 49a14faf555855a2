"""`run_experiment`: config in, trained model and summary out, metrics through a reporter.

Signature (what the worker and `liplab run` rely on):

    run_experiment(config, reporter=None, progress=None, workdir=None,
                   checkpoint_dir=None, resume_from=None) -> summary

- `reporter`: `log(values, step)`, `artifact(name, path, kind)`, `should_stop()`, and
  optionally `resumed(step)` (told the step a resumed run continues from; points after it
  will be logged again, identical to the lost ones).
- `workdir`: where checkpoints (`<workdir>/checkpoints/step_*.pt`), measurements and probe
  results go; `checkpoint_dir` overrides the checkpoint folder.
- `resume_from`: a checkpoint file or folder (its newest file), or "auto" for the newest
  checkpoint in the checkpoint folder when there is one (a fresh start otherwise).
- summary: {"status", "steps", "final", "error", "stopped_by", "diverged", "resumed_from",
  "probes"}; status is succeeded, diverged or cancelled. Bad configs raise `ConfigError`
  before any work.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lipcore.config import validate
from lipcore.config.schema import is_comparative
from lipcore.reporting import NullReporter


def run_experiment(config: dict[str, Any], reporter: Any = None,
                   progress: Callable[[int, int], None] | None = None,
                   workdir: str | Path | None = None,
                   checkpoint_dir: str | Path | None = None,
                   resume_from: str | Path | None = None) -> dict[str, Any]:
    """Validate `config`, build data and model(s), train, run probes, return the summary."""
    cfg = validate(config)
    from lipcore.training import checkpoints

    reporter = reporter or NullReporter()
    logged = None
    if cfg["probes"]:  # the probes read the run's series (lyapunov reuses them): keep a copy
        from lipcore.reporting import ListReporter, MultiReporter

        logged = ListReporter()
        reporter = MultiReporter(reporter, logged)
    if checkpoint_dir is None and workdir is not None:
        checkpoint_dir = Path(workdir) / "checkpoints"
    resume = None
    if resume_from == "auto":
        found = checkpoints.latest(checkpoint_dir) if checkpoint_dir is not None else None
        resume = checkpoints.load(found) if found is not None else None
    elif resume_from is not None:
        resume = checkpoints.load(resume_from)
    if is_comparative(cfg):
        from lipcore.training.comparative import train_comparative

        result, engine = train_comparative(cfg, reporter, progress, checkpoint_dir, resume)
    else:
        from lipcore.data import build_dataset
        from lipcore.models import build_model
        from lipcore.training.loop import Engine, make_member, pick_device

        data = build_dataset(cfg["data"])
        check_model_fits(cfg, data)
        model = build_model(cfg["model"], data)
        device = pick_device(cfg["training"]["device"])
        engine = Engine([make_member(model, data, cfg["training"], device)], data, cfg,
                        reporter, progress, checkpoint_dir, device)
        result = engine.run(resume)
    summary = {"status": result.status, "steps": result.steps, "final": result.final,
               "error": result.error, "stopped_by": result.stopped_by,
               "diverged": result.diverged, "resumed_from": resume["step"] if resume else None}
    if cfg["probes"] and result.status == "succeeded":
        metrics = _logged_series(workdir, logged, resumed=resume is not None)
        summary["probes"] = sorted(_run_probes(cfg, engine, reporter, workdir, checkpoint_dir,
                                               metrics))
    return summary


def check_model_fits(cfg: dict[str, Any], data: Any) -> None:
    """Shape mismatches the config alone cannot see (e.g. an image model on flat data)."""
    from lipcore import catalog

    if cfg["model"]["name"] in catalog.IMAGE_MODELS and data.x_train.dim() != 4:
        raise ValueError(f"model.name: {cfg['model']['name']!r} needs image data (N, C, H, W); "
                         f"data.name {cfg['data']['name']!r} gives {tuple(data.x_train.shape[1:])}")


def _logged_series(workdir: Any, logged: Any, resumed: bool) -> dict[str, dict[str, list]]:
    """The run's metric series for the probes: `<workdir>/metrics.jsonl` when a sink wrote one
    (`liplab run`; it holds a resumed run's earlier points too), else the series this process
    logged (the worker's case), unless the run was resumed: those would start mid-run, and a
    probe does better recomputing from checkpoints than reading half a series."""
    if workdir is not None and (Path(workdir) / "metrics.jsonl").is_file():
        from lipcore.reporting import read_jsonl_metrics

        return read_jsonl_metrics(Path(workdir) / "metrics.jsonl")
    if logged is None or resumed:
        return {}
    return logged.as_series()


def _run_probes(cfg: dict[str, Any], engine: Any, reporter: Any, workdir: Any,
                checkpoint_dir: Any, metrics: dict[str, dict[str, list]]) -> dict[str, Any]:
    from lipcore.probes import ProbeContext, run_probes
    from lipcore.training import checkpoints

    member = engine.members[0]
    snaps = checkpoints.snapshots(checkpoint_dir) if checkpoint_dir is not None else \
        list(engine.snapshots)
    if not snaps or snaps[-1][0] != engine.step:
        snaps.append((engine.step, {k: v.detach().cpu().clone()
                                    for k, v in member.model.state_dict().items()}))
    ctx = ProbeContext(model=member.model, data=engine.data_dev, loss_fn=member.loss_fn,
                       checkpoints=snaps, config=cfg, device=str(engine.device), metrics=metrics)
    return run_probes(cfg["probes"], ctx, reporter, workdir)
