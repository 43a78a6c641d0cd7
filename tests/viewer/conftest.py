"""Fixtures of the viewer tests: headless Chromium (tests/viewer/browser.py says how it runs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .browser import CHROMIUM_FLAGS, chromium_paths


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    paths = chromium_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
