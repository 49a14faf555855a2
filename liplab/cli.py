"""`liplab`: run, submit, and serve experiments (CONTRACT §1)."""
from __future__ import annotations

import argparse
import os
import sys

from server.settings import get_settings, redacted


def cmd_run(args: argparse.Namespace) -> int:
    from lipcore.config import ConfigError, apply_overrides, load_config
    from lipcore.local import run_local

    try:
        config = apply_overrides(load_config(args.config), args.overrides)
        out, summary = run_local(config, args.overrides, out_root=args.out,
                                 progress=not args.quiet, resume_dir=args.resume)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"liplab run: {e}", file=sys.stderr)
        return 2
    print(f"{summary['status']}: {summary.get('final')}\noutputs in {out}")
    return 0 if summary["status"] == "succeeded" else 1


def cmd_submit(args: argparse.Namespace) -> int:
    from liplab.submit import submit

    return submit(args.config, args.overrides, api_url=os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000"),
                  token=os.environ.get("LIPLAB_TOKEN"), name=args.name, zip_groups=args.zip,
                  random_n=args.random, random_seed=args.random_seed, overwrite=args.overwrite,
                  fail_fast=args.fail_fast,
                  wait=args.wait, dashboard_url=get_settings().dashboard_url)


def cmd_report(args: argparse.Namespace) -> int:
    from liplab.report import report

    return report(args.sweep_id, out=args.out)


def cmd_db(args: argparse.Namespace) -> int:
    from server.migrate import downgrade, upgrade

    url = get_settings().db_url
    (upgrade if args.action == "upgrade" else downgrade)(url, args.revision or
                                                          ("head" if args.action == "upgrade" else "base"))
    print(f"database {args.action}d: {redacted(url)}")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from server.main import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.app import create_app

    app = create_app(args.api_url, os.environ.get("LIPLAB_TOKEN") or os.environ.get("LIPLAB_API_TOKEN"))
    app.run(host=args.host, port=args.port, debug=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """One worker process per GPU (or `--cpu N` CPU workers), restarted if one dies."""
    from liplab.processes import ProcessGroup
    from worker.supervise import parse_gpus, worker_plan

    try:
        plan = worker_plan(parse_gpus(args.gpus), args.queues, args.cpu, args.loglevel)
    except ValueError as e:
        print(f"liplab worker: {e}", file=sys.stderr)
        return 2
    group = ProcessGroup(restart=True)
    for label, cmd, env in plan:
        group.start(label, cmd, env)
    print(f"liplab worker: {', '.join(label for label, _, _ in plan)} on queues {args.queues}",
          flush=True)
    return group.wait()


def cmd_up(args: argparse.Namespace) -> int:
    from liplab.processes import ProcessGroup, worker_command
    from server.migrate import upgrade

    settings = get_settings()
    upgrade(settings.db_url)
    py = sys.executable
    group = ProcessGroup()
    api_url = f"http://{args.host}:{args.port}"
    env = {"LIPLAB_DASHBOARD_URL": f"http://{args.host}:{args.dashboard_port}"}
    group.start("api", [py, "-m", "liplab.cli", "api", "--host", args.host, "--port", str(args.port)], env)
    group.start("worker", worker_command("gpu,cpu", "embedded@%h", "WARNING"), env)
    if not args.no_dashboard:
        group.start("dashboard", [py, "-m", "liplab.cli", "dashboard", "--host", args.host,
                                  "--port", str(args.dashboard_port), "--api-url", api_url], env)
    store = "embedded SQLite" if settings.database_url is None else settings.db_url.split("@")[-1]
    broker = "filesystem" if settings.embedded_broker else redacted(settings.broker_url)
    print(f"liplab is up ({store}; broker: {broker})\n"
          f"  API        {api_url}/api/v1   (docs: {api_url}/docs)\n"
          + ("" if args.no_dashboard else f"  dashboard  http://{args.host}:{args.dashboard_port}\n")
          + "Ctrl-C stops everything.", flush=True)
    return group.wait()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="liplab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("run", help="run one experiment in-process (no server)")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="key=value, e.g. training.lr=0.01")
    s.add_argument("--out", default="outputs")
    s.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (outputs/<name>/<time>) from its newest checkpoint")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("submit", help="send a run or sweep to the API")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*", help="key=value; key=a,b / a..b..s / logfloat(a,b) sweep")
    s.add_argument("--zip", action="append", help="keys varied together, e.g. model.width,training.lr")
    s.add_argument("--random", type=int, help="random search: number of runs")
    s.add_argument("--random-seed", type=int, default=0)
    s.add_argument("--name")
    s.add_argument("--overwrite", action="store_true", help="re-run members that already succeeded")
    s.add_argument("--fail-fast", action="store_true",
                   help="cancel the sweep's other members as soon as one fails or diverges")
    s.add_argument("--wait", action="store_true", help="show a progress bar until all runs end")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("up", help="API, worker and dashboard together (embedded default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--dashboard-port", type=int, default=8050)
    s.add_argument("--no-dashboard", action="store_true")
    s.set_defaults(fn=cmd_up)

    s = sub.add_parser("api", help="the REST API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(fn=cmd_api)

    s = sub.add_parser("worker", help="Celery workers (one per GPU with --gpus)")
    s.add_argument("--gpus", help="comma-separated GPU indices, e.g. 0,1, or all")
    s.add_argument("--cpu", type=int, default=1, help="number of CPU workers when no GPU is given")
    s.add_argument("--queues", default="gpu,cpu")
    s.add_argument("--loglevel", default="INFO")
    s.set_defaults(fn=cmd_worker)

    s = sub.add_parser("dashboard", help="the Dash dashboard")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--api-url", default=os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000"))
    s.set_defaults(fn=cmd_dashboard)

    s = sub.add_parser("report", help="Markdown report with tables and figures for a sweep")
    s.add_argument("sweep_id")
    s.add_argument("--out", help="output folder (default reports/sweep_<id>)")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("db", help="database migrations")
    s.add_argument("action", choices=["upgrade", "downgrade"])
    s.add_argument("revision", nargs="?")
    s.set_defaults(fn=cmd_db)

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
