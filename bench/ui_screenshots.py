"""Screenshots of one job in the Dagster UI, from a clean start: the evidence for what the UI shows.

    /usr/bin/python3 bench/ui_screenshots.py [MEDIA] [--max-steps 300] [--out .work/screenshots]

Needs Debian's headless browser and its driver, with Selenium for the system Python:

    apt-get install -y chromium chromium-driver python3-selenium

It starts `gs-dagster ui` (this checkout's .venv) in a temporary DAGSTER_HOME and data folder, submits
MEDIA (default: the apple video beside the checkout, ../shared/data/apple_video/apple.mp4) with
`gs-dagster submit`, and while the job runs and after it ends saves PNGs to --out:

    1-run-during-training.png   the run's event log while the splat stage trains (progress events)
    2-runs-list.png             the runs list: each run's tags name its job (uuid and file name)
    3-watch-link.png            the page `submit`'s watch: link opens (the job's partition)
    4-splat-preview.png         the splat materialization of the job: headline values, labelled preview
    5-splat-checks.png          the splat's checks: heldout_psnr as a warning (WARN) on a weak draft

At the end it prints the job's status (time, PSNR), stops the UI with SIGTERM and removes the temporary
folder (`--keep` keeps it, with the UI's log). A shot whose moment
never came (the run failed before training, no preview) is skipped with the reason; the others are
still taken. Screenshots are not committed; this script is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
GS_DAGSTER = PROJECT / ".venv" / "bin" / "gs-dagster"
DEFAULT_MEDIA = PROJECT.parent / "shared" / "data" / "apple_video" / "apple.mp4"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1600,1300",
)
#: The run's events, newest last: the step's progress lines and each materialization as it lands.
RUN_EVENTS = """query ($runId: ID!) { logsForRun(runId: $runId) { __typename
  ... on EventConnection { events { __typename ... on MessageEvent { message }
    ... on MaterializationEvent { assetKey { path } } } } } }"""
RUN_STATUS = """query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Ui:
    """`gs-dagster ui` in a temporary home, and what the job it runs looks like through its GraphQL API."""

    def __init__(self, root: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
        self.env.update(DAGSTER_HOME=str(root / "home"), GS_DATA_DIR=str(root / "data"), GS_DAGSTER_URL=self.url)
        code = [str(PROJECT), str(PROJECT / "container")]  # this checkout's code, whichever the venv installed
        self.env["PYTHONPATH"] = os.pathsep.join([*code, *filter(None, [os.environ.get("PYTHONPATH")])])
        self.log = (root / "ui.log").open("wb")
        command = [str(GS_DAGSTER), "ui", "--port", str(port)]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gs-dagster ui exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=3):
                    return
            except OSError:
                time.sleep(2)
        raise SystemExit(f"the UI did not answer in {timeout_s:.0f} s; see {self.log.name}")

    def gs(self, *args: str) -> str:
        done = subprocess.run([str(GS_DAGSTER), *args], env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"gs-dagster {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]

    def run_status(self, run_id: str) -> str:
        return self.graphql(RUN_STATUS, runId=run_id)["runOrError"].get("status", "")

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self.graphql(RUN_EVENTS, runId=run_id)["logsForRun"].get("events", [])

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def wait_until(what: str, test: Any, timeout_s: float, every_s: float = 3) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(every_s)
    print(f"  (gave up waiting for {what} after {timeout_s:.0f} s)")
    return None


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shoot(driver: Any, url: str, path: Path, *, settle_s: float = 8, scroll_to: str | None = None) -> None:
    """Open `url`, let the UI render, optionally scroll an element (XPath) into view, save a PNG."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    time.sleep(settle_s)
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):  # the welcome dialog
        button.click()
        time.sleep(1)
    if scroll_to:
        found = driver.find_elements(By.XPATH, scroll_to)
        if found:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", found[0])
            time.sleep(1)
        else:
            print(f"  {path.name}: nothing matched {scroll_to} on the page; the shot shows the top")
    driver.save_screenshot(str(path))
    print(f"  saved {path}  ({url})")


def training_started(ui: Ui, run_id: str) -> bool:
    """The splat stage is training: SfM's materialization is in, or the log says the splat stage started."""
    for event in ui.events(run_id):
        if event.get("assetKey", {}).get("path") == ["sparse_model"] or "splat:" in event.get("message", ""):
            return True
    return ui.run_status(run_id) in ("SUCCESS", "FAILURE", "CANCELED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("media", nargs="?", default=str(DEFAULT_MEDIA), help="a video or a .zip of photos")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=PROJECT / ".work" / "screenshots")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the job to end")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DAGSTER_HOME and data folder")
    args = parser.parse_args(argv)
    if not GS_DAGSTER.exists():
        raise SystemExit(f"no {GS_DAGSTER}: run `make setup` first")
    args.out.mkdir(parents=True, exist_ok=True)

    root = Path(tempfile.mkdtemp(prefix="gs-ui-shots-"))
    ui = Ui(root, free_port())
    print(f"UI {ui.url}, DAGSTER_HOME {ui.env['DAGSTER_HOME']}, log {ui.log.name}")
    driver = None
    try:
        ui.wait_ready()
        started = time.monotonic()
        job = json.loads(ui.gs("submit", args.media, "--max-steps", str(args.max_steps), "--json"))
        uuid = job["uuid"]
        print(f"submitted {uuid}; watch: {job['watch']}")
        record = wait_until("the run to start", lambda: json.loads(ui.gs("status", uuid, "--json")).get("run_id"), 600)
        if not record:
            return 1
        run_id = record
        driver = browser()
        if wait_until("the splat stage", lambda: training_started(ui, run_id), args.timeout, 5):
            time.sleep(20)  # a few training progress events
            shoot(driver, f"{ui.url}/runs/{run_id}", args.out / "1-run-during-training.png")
        shoot(driver, f"{ui.url}/runs", args.out / "2-runs-list.png")
        finished = ("SUCCESS", "FAILURE", "CANCELED")
        status = wait_until("the run to end", lambda: ui.run_status(run_id) in finished, args.timeout, 10)
        seconds = time.monotonic() - started
        shoot(driver, job["watch"], args.out / "3-watch-link.png")
        preview = "//img[contains(@alt, 'ground truth') or contains(@alt, 'held-out')] | //*[text()='preview']"
        splat = job["watch"].replace("/assets/spz?", "/assets/splat?")
        shoot(driver, splat, args.out / "4-splat-preview.png", scroll_to=preview)
        shoot(driver, f"{ui.url}/assets/splat?view=checks", args.out / "5-splat-checks.png")
        print(f"\njob {uuid}: run {ui.run_status(run_id) if status else 'not finished'} in {seconds:.0f} s")
        print(ui.gs("status", uuid))
    finally:
        if driver is not None:
            driver.quit()
        code = ui.stop()
        print(f"gs-dagster ui stopped with exit code {code}; screenshots in {args.out}")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
