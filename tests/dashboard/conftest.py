"""Browser tests: dash_duo in headless Chromium; skipped locally (failed in CI) without a driver."""
from __future__ import annotations

import shutil

import pytest

from tests.services import need


@pytest.fixture
def browser_ok():
    need(shutil.which("chromedriver") is not None and
         (shutil.which("chromium") or shutil.which("google-chrome")) is not None,
         "Chromium and chromedriver (apt-get install chromium chromium-driver)")
