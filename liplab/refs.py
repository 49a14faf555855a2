"""How the command line names a run or a sweep: `12` or `run:12` is run 12, `sweep:3` is sweep 3.

Runs and sweeps are numbered separately (run 3 and sweep 3 are different things), so a sweep
always carries its `sweep:` prefix; a bare number means a run, the common case.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("run", "sweep")


@dataclass(frozen=True)
class Ref:
    kind: str  # "run" or "sweep"
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_ref(text: "Ref | str | int") -> Ref:
    """`12`, `run:12` → Ref("run", 12); `sweep:3` → Ref("sweep", 3); ValueError otherwise."""
    if isinstance(text, Ref):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        return Ref("run", text)
    kind, sep, number = str(text).strip().partition(":")
    if not sep:
        kind, number = "run", kind
    if kind not in KINDS or not number.isdigit():
        raise ValueError(f"{text!r} is not a run or sweep: write 12 or run:12 for a run, sweep:3 for a sweep")
    return Ref(kind, int(number))
