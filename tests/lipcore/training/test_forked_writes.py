"""A pack's checkpoints written by a forked child: the files hold the tensors as they were at
the fork, and the child's failure is raised in the parent with its errno."""
from __future__ import annotations

import errno

import pytest
import torch

from lipcore.training import checkpoints, forked_writes
from lipcore.training.forked_writes import ForkedWrites

pytestmark = pytest.mark.skipif(not forked_writes.forking_allowed(), reason="forked writes are Linux-only")


def _payload(w: torch.Tensor) -> dict:
    return {"model": {"w": w}, "models": [], "sampler": {"pos": 3}}


def test_the_files_hold_the_tensors_as_they_were_when_submitted(tmp_path):
    stack = torch.zeros(4, 3)
    writes = ForkedWrites()
    writes.submit([(tmp_path / str(i), 5, _payload(stack[i])) for i in range(4)])
    assert writes.pid is not None  # a child writes them
    stack.add_(1.0)  # the pack trains on while the child writes
    writes.wait()
    for i in range(4):
        back = checkpoints.load(tmp_path / str(i))
        assert back["step"] == 5 and back["sampler"] == {"pos": 3}
        assert torch.equal(back["model"]["w"], torch.zeros(3))
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_childs_os_error_is_raised_in_the_parent_with_its_errno(tmp_path, monkeypatch):
    def full_disk(folder, step, payload):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        except OSError as e:  # as torch's writer reports it: a RuntimeError over the OSError
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from e

    monkeypatch.setattr(checkpoints, "save", full_disk)  # the child inherits it
    writes = ForkedWrites()
    writes.submit([(tmp_path, 1, _payload(torch.ones(2)))])
    with pytest.raises(OSError) as raised:
        writes.wait()
    assert raised.value.errno == errno.ENOSPC
    assert "unexpected pos" in str(raised.value.__cause__)  # the child's traceback


def test_the_next_submit_reaps_the_previous_child_and_raises_its_error(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")
    writes = ForkedWrites()
    writes.submit([(tmp_path / "taken", 1, _payload(torch.ones(2)))])
    with pytest.raises(OSError):
        writes.submit([(tmp_path / "fine", 2, _payload(torch.ones(2)))])
    assert writes.pid is None


def test_switched_off_it_writes_in_the_calling_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPLAB_FORKED_CHECKPOINTS", "0")
    writes = ForkedWrites()
    writes.submit([(tmp_path, 7, _payload(torch.ones(2)))])
    assert writes.pid is None
    assert [s for s, _ in checkpoints.listing(tmp_path)] == [7]
