"""`make bench`: every benchmark, liplab beside its peer, one table per figure, the doc rewritten.

    PYTHONPATH=. python bench/run.py [--quick | --smoke] [--only ingest,overhead,…] [--device cuda]
                                     [--doc docs/benchmarks.md] [--no-doc]

Runs each family's script (bench/FAMILY.py) in its own process with `--json`, so one family's
crash or timeout is its table's "failed" row, not the suite's end; the Hessian family runs in
the peers' venv (`$LIPLAB_BENCH_PEERS`, else .venv-bench) where PyHessian is installed. Prints
every table, draws one PNG per family (docs/benchmarks/FAMILY.png: median bars, min–max
whiskers) and rewrites the generated part of docs/benchmarks.md, between its
`<!-- make bench: begin -->` and `<!-- make bench: end -->` markers: machine, load average,
torch, date, then the tables with their aims met or missed. The hand-written sections outside
the markers stay. With `--device cuda` only the families that take a device run (flossing,
layers), and their tables go between the `## GPU` section's own markers instead.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import Aim, Table, load, machine, peer_env, peer_python, verdict  # noqa: E402

# family → (script, what its peer is, takes --device)
FAMILIES = {
    "ingest": ("ingest.py", "MLflow log_batch, TensorBoard, raw COPY / executemany", False),
    "overhead": ("overhead.py", "the same loop with a null reporter", False),
    "flossing": ("flossing.py", "a plain training step", True),
    "layers": ("layers.py", "the unconstrained layer", True),
    "hessian": ("hessian.py", "PyHessian 0.1", False),
    "queries": ("api.py", "none (aims)", False),
    "dispatch": ("worker.py", "none (aims)", False),
    "dashboard": ("dashboard.py", "none (aims)", False),
    "packing": ("packing.py", "one run per job (the same sweep unpacked)", True),
}
TIMEOUT_S = {"full": 5400, "quick": 240, "smoke": 240}
CPU_BEGIN, CPU_END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
GPU_BEGIN, GPU_END = "<!-- make bench --device cuda: begin -->", "<!-- make bench --device cuda: end -->"


def run_family(name: str, mode: str, device: str, out: Path) -> tuple[list[Table], float]:
    """The family's tables (or one saying why there are none) and its wall time."""
    script, _, takes_device = FAMILIES[name]
    py = peer_python() if name == "hessian" and peer_python() else Path(sys.executable)
    cmd = [str(py), str(ROOT / "bench" / script), "--json", str(out)]
    cmd += [] if mode == "full" else [f"--{mode}"]
    cmd += ["--device", device] if takes_device else []
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=peer_env(), capture_output=True, text=True,
                              timeout=TIMEOUT_S[mode])
        why = None if proc.returncode == 0 and out.exists() else \
            f"failed (exit {proc.returncode}): " + " ".join(proc.stderr.strip().splitlines()[-1:])[:200]
        if why:
            sys.stderr.write(proc.stderr[-3000:])
    except subprocess.TimeoutExpired:
        why = f"did not finish within {TIMEOUT_S[mode]} s"
    wall = time.perf_counter() - t
    if why:
        return [Table(name, f"{name}: not measured", ["why"], [[why]], [Aim(name, "a figure", why, None)])], wall
    return load(out), wall


def plot(name: str, tables: list[Table], folder: Path) -> Path | None:
    """One PNG per family: each table's `plot` bars (median) with min–max whiskers."""
    panels = [t for t in tables if t.plot]
    if not panels:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 0.5 + 0.45 * sum(len(t.plot) for t in panels) + 0.8 * len(panels)),
                             squeeze=False)
    for ax, t in zip(axes[:, 0], panels):
        labels = list(t.plot)
        med = [t.plot[k][0] for k in labels]
        err = [[m - t.plot[k][1] for k, m in zip(labels, med)], [t.plot[k][2] - m for k, m in zip(labels, med)]]
        ax.barh(labels, med, xerr=err, color="#4c72b0", ecolor="#333", capsize=3)
        ax.invert_yaxis()
        ax.set_xlabel(t.plot_unit)
        ax.set_title(t.title[:90] + ("…" if len(t.title) > 90 else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def section(results: dict[str, tuple[list[Table], float]], plots: dict[str, Path | None], doc: Path,
            command: str, info: dict[str, str]) -> str:
    """The generated Markdown: machine, then per family its plot and tables."""
    lines = [f"`{command}` — generated: edit bench/, not this part. Every figure below comes from "
             "that one command; liplab and its peer ran interleaved in the same run.", "",
             "| machine | |", "| --- | --- |"] + [f"| {k} | {v} |" for k, v in info.items()] + [""]
    summary = ["| family | peer | aims met | wall s |", "| --- | --- | --- | ---: |"]
    for name, (tables, wall) in results.items():
        aims = [a for t in tables for a in t.aims]
        met = sum(a.met is True for a in aims)
        judged = sum(a.met is not None for a in aims)
        summary.append(f"| {name} | {FAMILIES[name][1]} | {met} of {judged}"
                       f"{f' ({len(aims) - judged} n/a)' if judged < len(aims) else ''} | {wall:.0f} |")
    lines += summary + [""]
    for name, (tables, _) in results.items():
        lines += [f"### {name}", ""]
        if plots.get(name):
            lines += [f"![{name}]({os.path.relpath(plots[name], doc.parent)})", ""]
        for t in tables:
            lines += [t.markdown(), ""]
    return "\n".join(lines).rstrip() + "\n"


def rewrite(doc: Path, begin: str, end: str, body: str, heading: str) -> None:
    """Replace what stands between the markers (or add them under `heading`, or at the top)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    elif heading in text:
        at = text.index(heading) + len(heading)
        text = text[:at] + "\n\n" + block + text[at:]
    else:
        first = text.index("\n") + 1 if text.startswith("# ") else 0
        text = text[:first] + f"\n{heading}\n\n{block}\n" + text[first:]
    doc.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="make bench QUICK=1: the suite in under 5 minutes")
    g.add_argument("--smoke", action="store_true", help="the smallest sizes (tests/bench)")
    p.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families")
    p.add_argument("--device", default="cpu")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--plots", type=Path, default=None, help="folder of the PNGs (default: beside --doc)")
    p.add_argument("--no-doc", action="store_true", help="print the tables only")
    args = p.parse_args()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(FAMILIES)
    if unknown:
        p.error(f"unknown families: {sorted(unknown)}; known: {list(FAMILIES)}")
    cuda = args.device.startswith("cuda")
    if cuda:
        names = [n for n in names if FAMILIES[n][2]]
    info = machine()
    if cuda:
        import torch
        info["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "none visible"
    peers = peer_python()
    info["peers"] = (os.path.relpath(peers, ROOT) if peers else
                     "not installed (make bench builds .venv-bench)")
    started = time.perf_counter()
    results: dict[str, tuple[list[Table], float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"== {name} ({FAMILIES[name][0]}, {mode})", file=sys.stderr, flush=True)
            results[name] = run_family(name, mode, args.device, Path(tmp) / f"{name}.json")
            for t in results[name][0]:
                print(t.markdown() + "\n", flush=True)
    info["suite wall time"] = f"{time.perf_counter() - started:.0f} s ({mode} sizes)"
    missed = [(n, a) for n, (ts, _) in results.items() for t in ts for a in t.aims if a.met is False]
    print(f"{len(missed)} aims missed: " + "; ".join(f"{n}: {a.what} {a.value} ({a.aim})" for n, a in missed))
    if args.no_doc:
        return
    folder = args.plots or args.doc.parent / args.doc.stem / ("gpu" if cuda else "")
    plots = {name: plot(name, tables, folder) for name, (tables, _) in results.items()}
    command = "make bench" + {"quick": " QUICK=1", "smoke": " (smoke sizes)", "full": ""}[mode] + \
        (f" BENCH_ARGS='--device {args.device}'" if cuda else "")
    body = section(results, plots, args.doc, command, info)
    if cuda:
        rewrite(args.doc, GPU_BEGIN, GPU_END, body, "## GPU")
    else:
        rewrite(args.doc, CPU_BEGIN, CPU_END, body, "## `make bench`")
    print(f"wrote {args.doc} ({verdict(not missed)} overall)", file=sys.stderr)


if __name__ == "__main__":
    main()
