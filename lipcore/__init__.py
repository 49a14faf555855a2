"""liplab's pure torch core.

`import lipcore` is torch-free so that the server and dashboard can use `lipcore.config`,
`lipcore.sweep` and `lipcore.catalog`; `run_experiment` imports torch on first use.
"""
from typing import Any

__version__ = "0.1.0"


def run_experiment(config: dict, reporter: Any = None, **kwargs: Any) -> dict:
    """Run one experiment (see `lipcore.experiment.run_experiment`)."""
    from lipcore.experiment import run_experiment as _run

    return _run(config, reporter, **kwargs)


__all__ = ["run_experiment", "__version__"]
