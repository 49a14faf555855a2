"""The CLI verbs that look at and steer what was submitted: status, logs, cancel, retry, export
and open. Each takes a `Client` and the parsed arguments, prints, and returns the exit code."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from liplab.client import FINISHED, Client, ClientError
from liplab.refs import Ref, parse_ref
from liplab.table import cell, table

RECENT_SWEEPS, RECENT_RUNS = 10, 20


def _metric(run: dict[str, Any], key: str) -> Any:
    return (run.get("summary", {}).get(key) or {}).get("last")


def _step(run: dict[str, Any]) -> Any:
    steps = [s.get("step") for s in (run.get("summary") or {}).values() if s.get("step") is not None]
    return max(steps) if steps else None


def _varying(runs: list[dict]) -> list[str]:
    """The override keys whose value differs between these runs (a sweep's axes)."""
    keys = sorted({k for r in runs for k in (r.get("overrides") or {})})
    return [k for k in keys if len({json.dumps((r.get("overrides") or {}).get(k)) for r in runs}) > 1]


def runs_table(runs: list[dict], metric: str, axes: list[str] = ()) -> str:
    headers = ["RUN", "SWEEP", "NAME", "STATUS", *axes, "STEP", metric, "WORKER"]
    rows = [[f"run:{r['id']}", f"sweep:{r['sweep_id']}" if r.get("sweep_id") else "-", r["name"],
             r["status"], *[(r.get("overrides") or {}).get(a) for a in axes], _step(r),
             _metric(r, metric), r.get("worker")] for r in runs]
    return table(headers, rows)


def sweeps_table(sweeps: list[dict]) -> str:
    headers = ["SWEEP", "NAME", "RUNS", *FINISHED[:1], "running", "queued", *FINISHED[1:], "CREATED"]
    rows = [[f"sweep:{s['id']}", s["name"], s["n_runs"],
             *[s["counts"].get(k, 0) for k in headers[3:-1]], (s.get("created_at") or "")[:19]]
            for s in sweeps]
    return table(headers, rows)


def show_run(run: dict[str, Any]) -> str:
    lines = [f"run:{run['id']}  {run['name']}  {run['status']}"
             + (f"  (sweep:{run['sweep_id']})" if run.get("sweep_id") else "")]
    for key in ("worker", "attempts", "created_at", "started_at", "finished_at"):
        lines.append(f"  {key:<12}{cell(run.get(key))}")
    if run.get("overrides"):
        lines.append("  overrides   " + " ".join(f"{k}={v}" for k, v in run["overrides"].items()))
    summary = run.get("summary") or {}
    if summary:
        lines += ["", table(["METRIC", "LAST", "MIN", "MAX", "STEP"],
                            [[k, s.get("last"), s.get("min"), s.get("max"), s.get("step")]
                             for k, s in sorted(summary.items())])]
    return "\n".join(lines)


def status(client: Client, args: argparse.Namespace) -> int:
    """A table: one run, one sweep's runs, or (no ID) the recent sweeps and runs."""
    if args.id is None:
        print(sweeps_table(client.sweeps(limit=RECENT_SWEEPS)))
        print()
        print(runs_table(client.runs(limit=RECENT_RUNS), args.metric))
        return 0
    ref = parse_ref(args.id)
    if ref.kind == "run":
        print(show_run(client.run(ref.id)))
        return 0
    sweep = client.sweep(ref.id)
    runs = client.runs(sweep_id=ref.id, order_by="id")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(sweep["counts"].items()))
    print(f"sweep:{sweep['id']}  {sweep['name']}  {sweep['n_runs']} runs ({counts})\n")
    print(runs_table(runs, args.metric, _varying(runs)))
    return 0


def _progress(run: dict[str, Any]) -> str:
    training = (run.get("config") or {}).get("training") or {}
    step = _step(run)
    limits = [f"max_steps {training['max_steps']}" if training.get("max_steps") else None,
              f"{training['epochs']} epochs" if training.get("epochs") is not None else None]
    planned = ", ".join(x for x in limits if x)
    return f"step {cell(step)}" + (f" of a run of {planned}" if planned else "")


def logs(client: Client, args: argparse.Namespace) -> int:
    """A run's progress, timing, worker and, when it failed, its error."""
    ref = parse_ref(args.id)
    if ref.kind != "run":
        raise ValueError(f"logs takes a run, not {ref}; list its runs with `liplab status {ref}`")
    run = client.run(ref.id)
    print(f"run:{run['id']}  {run['name']}  {run['status']}  "
          f"(attempt {run.get('attempts', 0)}, worker {cell(run.get('worker'))})")
    print(f"  queued {cell(run.get('created_at'))}  started {cell(run.get('started_at'))}  "
          f"finished {cell(run.get('finished_at'))}")
    print(f"  progress: {_progress(run)}")
    for key, s in sorted((run.get("summary") or {}).items()):
        print(f"  {key} = {cell(s.get('last'))} at step {cell(s.get('step'))}")
    if run.get("error"):
        print(f"\nerror:\n{run['error']}")
    return 1 if run["status"] in ("failed", "diverged") else 0


def cancel(client: Client, args: argparse.Namespace) -> int:
    ref = parse_ref(args.id)
    answer = client.cancel(ref)
    if ref.kind == "run":
        print(f"{ref}: {answer['status']}")
    else:
        print(f"{ref}: {len(answer['ids'])} unfinished runs asked to stop ({_counts(answer)})")
    return 0


def retry(client: Client, args: argparse.Namespace) -> int:
    ref = parse_ref(args.id)
    if ref.kind == "run":
        print(f"{ref}: {client.retry(ref.id)['status']}")
    else:
        answer = client.retry_failed(ref.id)
        print(f"{ref}: {len(answer['ids'])} failed, diverged or cancelled runs queued again")
    return 0


def _counts(answer: dict[str, Any]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(answer.get("status", {}).items())) or "none"


WRITERS = {
    "csv": lambda frame, path: frame.to_csv(path, index=False),
    "json": lambda frame, path: frame.to_json(path, orient="records", indent=1, date_format="iso"),
    "parquet": lambda frame, path: frame.to_parquet(path, index=False),
}


def _plain(frame: Any) -> Any:
    """Lists and mappings in cells as JSON text, so every format can hold them."""
    def text(v: Any) -> Any:
        return json.dumps(v) if isinstance(v, (list, dict)) else v
    return frame.map(text) if hasattr(frame, "map") else frame.applymap(text)


def write_frame(frame: Any, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ClientError("--format parquet needs pyarrow: pip install pyarrow "
                              "(or use --format csv or json)") from None
    WRITERS[fmt](_plain(frame) if fmt != "json" else frame, path)


def export(client: Client, args: argparse.Namespace) -> int:
    """`<kind>_<id>.<fmt>` (one row per run) and `<kind>_<id>_history.<fmt>` (long form)."""
    ref: Ref = parse_ref(args.id)
    loaded = client.load_sweep(ref.id, history=not args.no_history) if ref.kind == "sweep" \
        else client.load_run(ref.id)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{ref.kind}_{ref.id}.{args.format}"]
    write_frame(loaded.runs, paths[0], args.format)
    if not args.no_history:
        paths.append(out / f"{ref.kind}_{ref.id}_history.{args.format}")
        write_frame(loaded.history, paths[1], args.format)
    print(f"{ref}: {len(loaded.runs)} runs, {len(loaded.history)} metric points → "
          + ", ".join(map(str, paths)))
    return 0


def open_page(client: Client, args: argparse.Namespace) -> int:
    """Print the dashboard page of a run or sweep, and open it in a browser with --browser."""
    ref = parse_ref(args.id)
    (client.run if ref.kind == "run" else client.sweep)(ref.id)  # a clear error for an unknown id
    url = f"{client.dashboard_url()}/{ref.kind}s/{ref.id}"
    print(url)
    if args.browser:
        import webbrowser

        webbrowser.open(url)
    return 0

