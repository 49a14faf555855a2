"""Deployment settings read from LIPLAB_* variables, and the ones refused."""
from __future__ import annotations

import pydantic
import pytest

from server.settings import LIVE_EVERY_S, Settings
from worker.sink import DBReporter


def test_live_event_period_comes_from_the_environment_and_is_the_reporters_default(monkeypatch):
    assert Settings().live_every_s == LIVE_EVERY_S == DBReporter(None, 1).live_every_s  # type: ignore[arg-type]
    monkeypatch.setenv("LIPLAB_LIVE_EVERY_S", "0.5")
    assert Settings().live_every_s == 0.5
    monkeypatch.setenv("LIPLAB_LIVE_EVERY_S", "-1")
    with pytest.raises(pydantic.ValidationError, match="0 or more"):
        Settings()


def test_a_worker_starts_torch_with_the_configured_threads(monkeypatch):
    import torch

    from server.settings import get_settings
    from worker.celery_app import set_torch_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("LIPLAB_TORCH_THREADS", "3")
        get_settings.cache_clear()
        set_torch_threads()
        assert torch.get_num_threads() == 3
        monkeypatch.delenv("LIPLAB_TORCH_THREADS")
        get_settings.cache_clear()
        torch.set_num_threads(2)
        set_torch_threads()  # the default: one thread
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("LIPLAB_TORCH_THREADS", "-2")
        with pytest.raises(pydantic.ValidationError, match="0 or more"):
            Settings()
    finally:
        get_settings.cache_clear()
        torch.set_num_threads(before)
