"""Fixtures of the viewer tests: headless Chromium (tests/viewer/browser.py says how it runs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .browser import chromium_paths, start_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    paths = chromium_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromedriver are not installed")
    driver = start_chromium(paths)
    try:
        yield driver
    finally:
        driver.quit()
