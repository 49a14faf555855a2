"""Probes by name: analyses run on a trained model (and its checkpoints) that return plain data.

A probe is a function `probe(ctx: ProbeContext, **params) -> dict` registered with
`@PROBES.register("name")`; its result must be JSON-serialisable (lists, floats, strings) so
the server can store it and the dashboard can plot it. `run_probes` runs a config's `probes`
list, writes each result to `<workdir>/probes/<name>.json` and reports it as an artifact.
"""
from lipcore.probes.base import PROBES, ProbeContext, run_probes

__all__ = ["PROBES", "ProbeContext", "run_probes"]
