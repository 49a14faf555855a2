"""What each reliability test tried and what it cost, one JSON file per row of the table in
docs/reliability.md; `python -m tests.reliability.tally` prints that table from the files.

A row: the fault or input, how many times it was tried, runs affected, metric points lost,
duplicate points, 5xx answers (the last three must be 0) and what the user sees. The folder is
`LIPLAB_RELIABILITY_DIR` (default build/reliability, ignored by git).
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("fault or input", "times tried", "runs affected", "points lost", "duplicate points",
           "5xx answers", "what the user sees")


def folder() -> Path:
    return Path(os.environ.get("LIPLAB_RELIABILITY_DIR", ROOT / "build" / "reliability"))


def record(section: str, what: str, *, tried: int, runs: int = 0, lost: int = 0, duplicates: int = 0,
           five_xx: int = 0, sees: str) -> None:
    """Write one row (overwriting the previous result of the same `what`)."""
    out = folder()
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:80]
    row = {"section": section, "what": what, "tried": tried, "runs": runs, "lost": lost,
           "duplicates": duplicates, "five_xx": five_xx, "sees": sees}
    (out / f"{slug}.json").write_text(json.dumps(row, indent=1))


def table(rows: list[dict]) -> str:
    lines = ["| section | " + " | ".join(COLUMNS) + " |", "| --- " * (len(COLUMNS) + 1) + "|"]
    for r in sorted(rows, key=lambda r: (r["section"], r["what"])):
        lines.append(f"| {r['section']} | {r['what']} | {r['tried']} | {r['runs']} | {r['lost']} | "
                     f"{r['duplicates']} | {r['five_xx']} | {r['sees']} |")
    return "\n".join(lines)


def main() -> int:
    rows = [json.loads(p.read_text()) for p in sorted(folder().glob("*.json"))]
    print(table(rows))
    bad = [r["what"] for r in rows if r["lost"] or r["duplicates"] or r["five_xx"]]
    if bad:
        print(f"\nnot met (points lost, duplicated or 5xx): {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
