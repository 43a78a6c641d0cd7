"""`gs-dagster ui` as a real process: stops on SIGTERM when started in the background, and its terminal
stays quiet while nothing happens (no line per sensor tick, none of Dagster's notices about itself)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

#: What the terminal printed before: a notice per start, a line per sensor per tick (every 5 s).
NOISE = (
    "superseded",  # dev_command is superseded by dg dev
    "dagster.yaml",  # "Found a dagster instance configuration value (dagster.yaml) in the current folder"
    "PreviewWarning",
    "Checking for new runs for sensor",
    "Sensor job_",
    "listed 0 key(s)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _ignore_sigint() -> None:
    """What a shell does to `cmd &` without job control (a script, nohup): SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "gs-dagster ui exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


@pytest.mark.slow
def test_ui_in_the_background_stops_on_sigterm_and_stays_quiet(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), GS_DATA_DIR=str(tmp_path / "data"))
    port = _free_port()
    log = tmp_path / "ui.log"
    gs_dagster = Path(sys.executable).parent / "gs-dagster"
    with log.open("wb") as out:
        ui = subprocess.Popen(
            [str(gs_dagster), "ui", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: every child it starts is found below
            preexec_fn=_ignore_sigint,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/server_info", 120, ui)
            time.sleep(12)  # the run-status sensors tick every 5 s, the intake on start
            os.kill(ui.pid, signal.SIGTERM)
            started = time.monotonic()
            code = ui.wait(timeout=20)
            stopped_in = time.monotonic() - started
        finally:
            if ui.poll() is None:
                os.killpg(ui.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _group_members(ui.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    text = log.read_text(errors="replace")
    assert code in (0, 143, -signal.SIGTERM), text[-3000:]
    assert stopped_in < 15, text[-3000:]
    assert _group_members(ui.pid) == [], "children of gs-dagster ui outlived it"
    assert f"starting the UI on http://127.0.0.1:{port}" in text
    assert [word for word in NOISE if word in text] == [], text[-3000:]
