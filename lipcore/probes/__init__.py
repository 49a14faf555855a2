"""Probes by name: analyses run on a trained model (and its checkpoints) that return plain data.

A probe is a function `probe(ctx: ProbeContext, **params) -> dict` registered with
`@PROBES.register("name")`; its parameters and defaults are declared torch-free in
`lipcore.config.probes.PROBE_PARAMS`. Its result must be JSON-serialisable (lists, floats,
strings) so the server can store it and the dashboard can plot it (docs/probes.md gives each
shape). `run_probes` runs a config's `probes` list, writes each result to
`<workdir>/probes/<name>.json` and reports it as an artifact; `run_probe` runs one;
`lipcore.saved.probe_saved_run` runs them on a saved run folder (the worker's entry point).
"""
from lipcore.probes.base import PROBES, ProbeContext, run_probe, run_probes
from lipcore.probes import (certified, connectivity, hessian, interpolation,  # noqa: F401
                            lyapunov, measurement, pca, sharpness, slices)

__all__ = ["PROBES", "ProbeContext", "run_probe", "run_probes"]
