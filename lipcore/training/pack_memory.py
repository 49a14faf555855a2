"""How many members of a pack train in one vectorised group on a GPU: a measured per-member
footprint against a budget of the device's free memory.

A pack's members stack along a leading dimension, so one vectorised step of G members holds G
copies of the parameters, gradients, optimizer state and activations. `PackSizer` measures,
with `lipcore.measure.peak_memory` (the CUDA allocator's peak), one vectorised forward+backward
of the members' loss on a training batch (without the flossing penalty) for 1 and for 2 members: the difference is what one more
member adds to a step, the rest what any step needs. To that it adds each member's persistent
tensors (parameters, plus their gradients and the optimizer's state: 1 buffer for SGD with
momentum, 2 for Adam/AdamW). The group size is then

    G = max(1, ⌊(fraction · free − fixed) / per_member⌋)

with `free` the device's free memory when the pack starts (`torch.cuda.mem_get_info`), so
several worker processes on one GPU each take a fraction of what the others left. A pack
larger than G trains as ⌈P / G⌉ groups one after another in the same process (each member's
result is unchanged: members never interact). On the CPU sizing is a no-op (one group: the
host's memory is not the budget; `devices` says where sizing applies).

`free_bytes` and `peak` are injectable, so the arithmetic and the splitting are tested on the
CPU with a fake memory reading.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.func import functional_call, vmap

from lipcore.measure import peak_memory, tensor_bytes

#: optimizer name → persistent state tensors per parameter (besides the gradient)
STATE_BUFFERS = {"adam": 2, "adamw": 2}


def cuda_free_bytes(device: torch.device) -> int:
    return int(torch.cuda.mem_get_info(device)[0])


@dataclass
class PackSizer:
    """fraction: of the device's free memory one pack may use (`Settings.pack_memory_fraction`);
    free_bytes(device), peak(step, device, n_steps) → (bytes, method): the readings (CUDA by
    default); devices: device types sized (others get one group)."""

    fraction: float = 0.8
    free_bytes: Callable[[torch.device], int] = cuda_free_bytes
    peak: Callable[..., tuple[int, str]] = peak_memory
    devices: tuple[str, ...] = ("cuda",)
    measured: dict[str, Any] = field(default_factory=dict)  # the last sizing, for the log

    def group_size(self, engines: list[Any]) -> int:
        """Members per vectorised group for `engines` (one pack's `Engine`s, alike)."""
        n = len(engines)
        device = engines[0].device
        if device.type not in self.devices or n <= 1:
            return n
        fixed, per_member = self.footprint(engines[0])
        free = self.free_bytes(device)
        size = max(1, math.floor((self.fraction * free - fixed) / max(per_member, 1)))
        self.measured = {"free_bytes": free, "fixed_bytes": fixed, "member_bytes": per_member,
                         "group_size": min(size, n)}
        return min(size, n)

    def footprint(self, engine: Any) -> tuple[int, int]:
        """(bytes any step needs, bytes one more member adds) for members like `engine`'s."""
        model = engine.members[0].model
        loss_fn = engine.members[0].loss_fn
        size = engine.cfg["batch_size"] or len(engine.data_dev.x_train)
        x, y = engine.data_dev.x_train[:size], engine.data_dev.y_train[:size]
        params = dict(model.named_parameters())

        def step(k: int) -> Callable[[], None]:
            def run() -> None:
                stacked = {n: p.detach().unsqueeze(0).expand(k, *p.shape).clone().requires_grad_()
                           for n, p in params.items()}
                out = vmap(lambda ps: loss_fn(functional_call(model, ps, (x,)), y))(stacked)
                torch.autograd.grad(out.sum(), list(stacked.values()), allow_unused=True)
            return run

        one, _ = self.peak(step(1), engine.device, 2)
        two, _ = self.peak(step(2), engine.device, 2)
        buffers = STATE_BUFFERS.get(engine.cfg["optimizer"], 1 if engine.cfg["momentum"] else 0)
        persistent = tensor_bytes(params.values()) * (2 + buffers)  # θ, its gradient, the state
        per_member = max(two - one, 0) + persistent
        return max(one - (two - one), 0), per_member


def groups(n: int, size: int) -> list[list[int]]:
    """Member indices 0..n−1 in consecutive groups of at most `size`."""
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]
