"""`liplab worker`: which worker processes to start, one per GPU, without touching CUDA here.

The parent never imports torch: GPUs come from `--gpus 0,1` (or `all`, read from `nvidia-smi
-L`, a separate program), and each child sees only its own GPU through `CUDA_VISIBLE_DEVICES`,
so inside it `cuda` is device 0. Without GPUs, `--cpu N` CPU workers start, with
`CUDA_VISIBLE_DEVICES` empty so they never take a GPU by accident.
"""
from __future__ import annotations

import shutil
import subprocess

from liplab.processes import worker_command


def visible_gpus() -> list[str]:
    """GPU indices from `nvidia-smi -L` (empty when there is no driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def parse_gpus(spec: str | None) -> list[str]:
    """"0,1" → ["0", "1"]; "all" → every visible GPU (an error if none); None or "" → none."""
    if not spec:
        return []
    if spec == "all":
        gpus = visible_gpus()
        if not gpus:  # not silently CPU workers on the gpu queue
            raise ValueError("--gpus all: nvidia-smi lists no GPU; give --cpu N for CPU workers")
        return gpus
    gpus = [g.strip() for g in spec.split(",") if g.strip()]
    bad = [g for g in gpus if not g.isdigit()]
    if bad:
        raise ValueError(f"--gpus: {', '.join(bad)} is not a GPU index; give e.g. 0,1 or all")
    return gpus


def worker_plan(gpus: list[str], queues: str = "gpu,cpu", cpu_workers: int = 1,
                loglevel: str = "INFO") -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, command, extra environment) for each worker process to start."""
    if gpus:
        return [(f"worker gpu{g}", worker_command(queues, f"gpu{g}@%h", loglevel),
                 {"CUDA_VISIBLE_DEVICES": g}) for g in gpus]
    return [(f"worker cpu{i}", worker_command(queues, f"cpu{i}@%h", loglevel),
             {"CUDA_VISIBLE_DEVICES": ""}) for i in range(cpu_workers)]
