"""Headless Chromium for the viewer tests (Debian's chromium + chromium-driver, Selenium from PyPI).

WebGL runs on SwiftShader (software), so no GPU is needed. Without chromium the tests skip, except in
CI (`CI` set), where a missing browser is a failure: .ci/run installs it.
"""

from __future__ import annotations

import base64
import io
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from PIL import Image

from gs_dagster.viewer.library import Library
from gs_dagster.viewer.server import make_server

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--force-device-scale-factor=1",
    "--window-size=1024,768",
)


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_chromium(paths: tuple[str, str], page_load_timeout: float = 60, eager: bool = False) -> Any:
    """A headless Chromium driven by Selenium, with CHROMIUM_FLAGS (the caller quits it). `eager`: `get`
    returns once the document is parsed (a page busy loading a large splat is then polled, not awaited)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if eager:
        options.page_load_strategy = "eager"
    driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    if page_load_timeout > 120:  # Selenium's own HTTP client gives up on a command after 120 s
        driver.command_executor.set_timeout(page_load_timeout)
    return driver


@contextmanager
def serving(library: Library) -> Iterator[str]:
    """The viewer's server on a free loopback port, in a thread; yields its root URL."""
    server = make_server(library, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(driver: Any, script: str, timeout: float = 120.0) -> Any:
    """Poll `return <script>` until truthy; a page error (window.gsViewer.error) fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        error = driver.execute_script("return window.gsViewer && window.gsViewer.error")
        assert not error, f"the viewer reported: {error}"
        time.sleep(0.25)
    logs = driver.execute_script("return document.body.innerText")
    raise AssertionError(f"timed out waiting for {script!r}; page text: {logs[:500]}")


def canvas_pixels(driver: Any) -> np.ndarray:
    """The viewer's canvas as (H, W, 3) uint8, exactly as drawn (no page around it)."""
    data_url = driver.execute_script("return window.gsViewer.snapshot()")
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
