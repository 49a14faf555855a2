"""liplab: run experiments locally, submit them to a lab, watch, steer and export them.

Runs and sweeps are named `12` or `run:12` (a run) and `sweep:3` (a sweep); the API is found at
LIPLAB_URL (default http://127.0.0.1:8000) with LIPLAB_TOKEN when it needs one.
Exit codes: 0 done, 1 a run did not succeed, 2 bad input or refused, 3 API unreachable.
Config keys, overrides and sweeps: docs/configuration.md."""
from __future__ import annotations

import argparse
import os
import sys

from server.settings import get_settings, redacted


def cmd_run(args: argparse.Namespace) -> int:
    from lipcore.config import ConfigError, apply_overrides, load_config
    from lipcore.local import run_local

    try:
        config = apply_overrides(load_config(args.config), with_file(args))
        out, summary = run_local(config, with_file(args), out_root=args.out,
                                 progress=not args.quiet, resume_dir=args.resume)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"liplab run: {e}", file=sys.stderr)
        return 2
    outcome = summary["error"] if summary["status"] == "diverged" else \
        f"{summary['status']}: {summary.get('final')}"
    print(f"{outcome}\noutputs in {out}")
    return 0 if summary["status"] == "succeeded" else 1


def cmd_submit(args: argparse.Namespace) -> int:
    from liplab.submit import submit

    return submit(args.config, with_file(args), name=args.name, zip_groups=args.zip,
                  random_n=args.random, random_seed=args.random_seed, overwrite=args.overwrite,
                  fail_fast=args.fail_fast, wait=args.wait)


def with_file(args: argparse.Namespace) -> list[str]:
    """The overrides typed, after those of --overrides-file (so typed ones win)."""
    return [f"@{f}" for f in args.overrides_file or []] + args.overrides


def verb(name: str):  # noqa: ANN201
    """`liplab <name>`: the function of liplab.verbs with the client and the errors handled."""
    def cmd(args: argparse.Namespace) -> int:
        from liplab import verbs
        from liplab.client import Client, ClientError, Unreachable

        try:
            with Client() as client:
                return getattr(verbs, name)(client, args)
        except (ClientError, ValueError) as e:
            print(f"liplab {args.command}: {e}", file=sys.stderr)
            return 3 if isinstance(e, Unreachable) else 2
    return cmd


def cmd_study(args: argparse.Namespace) -> int:
    from liplab.study import study

    return study(args.file, args.overrides, scale=args.scale, out=args.out, wait=args.wait,
                 overwrite=args.overwrite)


def cmd_report(args: argparse.Namespace) -> int:
    from liplab.report import report

    return report(args.sweep_id.removeprefix("sweep:"), out=args.out)


def cmd_schema(args: argparse.Namespace) -> int:
    """The experiment config's JSON Schema, for editors (YAML language server `$schema`)."""
    import json

    from lipcore.config.jsonschema import config_json_schema_document

    text = json.dumps(config_json_schema_document(), indent=2) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"config schema written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


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


OVERRIDES_HELP = ("key=value settings on top of CONFIG: training.lr=0.01, training.metrics=[param_distance] "
                  "(a YAML list), +probes=hessian (append to a list), @more.yaml (a file of them)")
ID_HELP = "a run (12 or run:12) or a sweep (sweep:3)"


def add_overrides(s: argparse.ArgumentParser, sweeps: bool) -> None:
    s.add_argument("overrides", nargs="*", help=OVERRIDES_HELP + (
        "; key=a,b, key=a..b..step and key=logfloat(a,b) make a sweep" if sweeps else ""))
    s.add_argument("--overrides-file", action="append", metavar="FILE",
                   help="YAML file of overrides (dotted keys or nested sections), applied before "
                        "the typed ones; repeatable")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="liplab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("run", help="run one experiment here, without a server")
    s.add_argument("config", help="experiment YAML, e.g. configs/quickstart.yaml")
    add_overrides(s, sweeps=False)
    s.add_argument("-o", "--out", default="outputs", help="outputs go to OUT/<name>/<time>/")
    s.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (outputs/<name>/<time>) from its newest checkpoint")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("submit", help="send a run or a sweep to the lab's API")
    s.add_argument("config", help="experiment YAML, e.g. configs/quickstart.yaml")
    add_overrides(s, sweeps=True)
    s.add_argument("--zip", action="append", help="keys varied together, e.g. model.width,training.lr")
    s.add_argument("--random", type=int, help="random search: number of runs")
    s.add_argument("--random-seed", type=int, default=0)
    s.add_argument("--name", help="sweep name; a sweep submitted again under its name skips finished runs")
    s.add_argument("--overwrite", action="store_true", help="re-run members that already succeeded")
    s.add_argument("--fail-fast", action="store_true",
                   help="cancel the sweep's other members as soon as one fails or diverges")
    s.add_argument("--wait", action="store_true", help="show a progress bar until all runs end")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("status", help="a table of recent sweeps and runs, or of one run or sweep")
    s.add_argument("id", nargs="?", metavar="ID", help=ID_HELP + "; none: the recent ones")
    s.add_argument("--metric", default="train_loss", help="metric column (its last value)")
    s.set_defaults(fn=verb("status"))

    s = sub.add_parser("logs", help="a run's progress and, if it failed, its error")
    s.add_argument("id", metavar="RUN", help="12 or run:12")
    s.set_defaults(fn=verb("logs"))

    s = sub.add_parser("cancel", help="stop a run, or every unfinished run of a sweep")
    s.add_argument("id", metavar="ID", help=ID_HELP)
    s.set_defaults(fn=verb("cancel"))

    s = sub.add_parser("retry", help="queue a finished run again, or a sweep's failed runs")
    s.add_argument("id", metavar="ID", help=ID_HELP)
    s.set_defaults(fn=verb("retry"))

    s = sub.add_parser("export", help="a sweep's (or run's) configs, summaries and metric histories as files")
    s.add_argument("id", metavar="ID", help=ID_HELP)
    s.add_argument("--format", choices=["csv", "parquet", "json"], default="csv")
    s.add_argument("-o", "--out", default=".", help="folder for <kind>_<id>.<format> and <kind>_<id>_history.<format>")
    s.add_argument("--no-history", action="store_true", help="only the one-row-per-run table")
    s.set_defaults(fn=verb("export"))

    s = sub.add_parser("open", help="print the dashboard page of a run or sweep")
    s.add_argument("id", metavar="ID", help=ID_HELP)
    s.add_argument("--browser", action="store_true", help="also open it in the web browser")
    s.set_defaults(fn=verb("open_page"))

    s = sub.add_parser("report", help="Markdown report with tables and figures for a sweep")
    s.add_argument("sweep_id", help="the sweep's number (3 or sweep:3)")
    s.add_argument("-o", "--out", help="output folder (default reports/sweep_<id>)")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("study", help="submit a study file (configs/studies/) and write its report")
    s.add_argument("file")
    s.add_argument("overrides", nargs="*", help="key=value; a single value of a swept key "
                   "removes that axis, a list or range replaces it")
    s.add_argument("--scale", type=float, default=1.0,
                   help="multiply the file's sweep.scale keys (epochs, data size, ...) by N")
    s.add_argument("-o", "--out", help="report folder (default docs/results/<study>)")
    s.add_argument("--wait", action="store_true",
                   help="progress bar until every run ends, then write the report")
    s.add_argument("--overwrite", action="store_true",
                   help="re-run members that already succeeded (e.g. after a fix)")
    s.set_defaults(fn=cmd_study)

    s = sub.add_parser("up", help="API, a worker and the dashboard on this machine (no services needed)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="API port")
    s.add_argument("--dashboard-port", type=int, default=8050)
    s.add_argument("--no-dashboard", action="store_true")
    s.set_defaults(fn=cmd_up)

    s = sub.add_parser("api", help="the REST API alone")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(fn=cmd_api)

    s = sub.add_parser("worker", help="workers that train queued runs (one per GPU with --gpus)")
    s.add_argument("--gpus", help="comma-separated GPU indices, e.g. 0,1, or all")
    s.add_argument("--cpu", type=int, default=1, help="number of CPU workers when no GPU is given")
    s.add_argument("--queues", default="gpu,cpu")
    s.add_argument("--loglevel", default="INFO")
    s.set_defaults(fn=cmd_worker)

    s = sub.add_parser("dashboard", help="the web dashboard alone")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--api-url", default=os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000"))
    s.set_defaults(fn=cmd_dashboard)

    s = sub.add_parser("schema", help="the experiment config's JSON Schema (for editors)")
    s.add_argument("-o", "--out", help="write it to this file instead of stdout")
    s.set_defaults(fn=cmd_schema)

    s = sub.add_parser("db", help="migrate the store's schema (upgrade to the newest, or downgrade)")
    s.add_argument("action", choices=["upgrade", "downgrade"])
    s.add_argument("revision", nargs="?")
    s.set_defaults(fn=cmd_db)

    return p


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as parsed; overrides may also follow options (`--wait lr=0.1`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides") or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
