"""`BatchSampler`: the batch order of a run, seeded by `training.batch_seed`, resumable.

Offline data: a fresh permutation per epoch, cut into batches of the current size (a size
change applies from the next batch on); `None` means the full set every step. Online data:
`ceil(n_train / batch)` fresh draws make an epoch. `state_dict()` captures generator,
permutation and position, so a resumed run draws exactly the batches it would have.
"""
from __future__ import annotations

from typing import Any

import torch

from lipcore.data import Dataset


class BatchSampler:
    def __init__(self, data: Dataset, batch_size: int | None, seed: int, online: bool = False):
        self.data, self.batch_size, self.online = data, batch_size, online
        self.n = len(data.x_train)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.pos = 0, 0
        self.perm: torch.Tensor | None = None
        if online and (batch_size is None or data.sampler is None):
            raise ValueError("data.online: needs a dataset with a sampler and a batch size")

    def _size(self) -> int:
        return self.n if self.batch_size is None else min(self.batch_size, self.n)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(x, y, epoch_done) for the next batch; epoch_done is True on an epoch's last batch."""
        if self.online:
            assert self.batch_size is not None, "online data needs a batch size"
            x, y = self.data.sampler(self.batch_size, self.generator)
            self.pos += self.batch_size
            return x, y, self._end_epoch()
        if self.batch_size is None:
            self.pos = self.n
            return self.data.x_train, self.data.y_train, self._end_epoch()
        if self.perm is None:
            self.perm = torch.randperm(self.n, generator=self.generator)
        idx = self.perm[self.pos:self.pos + self._size()]
        self.pos += len(idx)
        return self.data.x_train[idx], self.data.y_train[idx], self._end_epoch()

    def _end_epoch(self) -> bool:
        if self.pos < self.n:
            return False
        self.epoch, self.pos, self.perm = self.epoch + 1, 0, None
        return True

    def steps_per_epoch(self) -> int:
        return -(-self.n // self._size()) if not self.online else -(-self.n // self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "pos": self.pos,
                "perm": self.perm, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.pos, self.perm = state["epoch"], state["pos"], state["perm"]
        self.batch_size = state["batch_size"]
