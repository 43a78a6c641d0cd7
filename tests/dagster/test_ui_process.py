"""`gs-dagster ui` as a real process: stops on SIGTERM when started in the background, with nothing of it
left running (webserver, daemon, code server, a run in progress), and its terminal stays quiet while
nothing happens (no line per sensor tick, none of Dagster's notices about itself)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import TEST_SETTINGS

#: What the terminal printed before: a notice per start, a line per sensor per tick (every 5 s).
NOISE = (
    "superseded",  # dev_command is superseded by dg dev
    "dagster.yaml",  # "Found a dagster instance configuration value (dagster.yaml) in the current folder"
    "PreviewWarning",
    "Checking for new runs for sensor",
    "Sensor job_",
    "listed 0 key(s)",
)
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes_of(home: Path) -> list[str]:
    """Command lines of live processes started for this DAGSTER_HOME (it is in their environment)."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (
                marker in (entry / "environ").read_bytes().split(b"\0")
                and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            ):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def _ignore_sigint() -> None:
    """What a shell does to `cmd &` without job control (a script, nohup): SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for(test: Callable[[], bool], what: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gs-dagster ui exited while waiting for {what}"
        if test():
            return
        time.sleep(1)
    raise AssertionError(f"no {what} after {timeout_s} s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def _ui_in_background(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path]]:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), GS_DATA_DIR=str(tmp_path / "data"), GS_SENSOR_INTERVAL_S="5")
    env["GS_STAGE_SETTINGS"] = json.dumps(TEST_SETTINGS)
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        ui = subprocess.Popen(
            [str(BIN / "gs-dagster"), "ui", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_ignore_sigint,
        )
        try:
            _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/server_info"), "webserver", 120, ui)
            yield ui, env, log
        finally:
            if ui.poll() is None:
                os.killpg(ui.pid, signal.SIGKILL)
            for line in _processes_of(home):  # never leave a test's processes behind, whatever failed
                print(f"left running: {line}")


def _stop(ui: subprocess.Popen[bytes], home: Path) -> float:
    """SIGTERM; seconds until gs-dagster ui and every process of its DAGSTER_HOME are gone."""
    os.kill(ui.pid, signal.SIGTERM)
    started = time.monotonic()
    code = ui.wait(timeout=40)
    while _processes_of(home) and time.monotonic() - started < 40:
        time.sleep(0.5)
    assert code in (0, 143, -signal.SIGTERM)
    assert _processes_of(home) == []
    return time.monotonic() - started


@pytest.mark.slow
def test_ui_in_the_background_stops_on_sigterm_and_stays_quiet(tmp_path: Path) -> None:
    with _ui_in_background(tmp_path) as (ui, env, log):
        time.sleep(12)  # the run-status sensors tick every 5 s, the intake on start
        assert _stop(ui, Path(env["DAGSTER_HOME"])) < 15
    text = log.read_text(errors="replace")
    assert "starting the UI on http://127.0.0.1:" in text
    assert [word for word in NOISE if word in text] == [], text[-3000:]


@pytest.mark.slow
def test_sigterm_stops_a_run_in_progress_and_says_so(tmp_path: Path, sample_zip: Path) -> None:
    """The code server and a training run outlived plain `dagster dev`; now they stop, and the run ends."""
    with _ui_in_background(tmp_path) as (ui, env, log):
        submit = [str(BIN / "gs-dagster"), "submit", str(sample_zip), "--max-steps", "50000"]
        subprocess.run(submit, env=env, check=True, capture_output=True, timeout=60)
        home = Path(env["DAGSTER_HOME"])
        _wait_for(lambda: any("gs_stages chain" in line for line in _processes_of(home)), "stage process", 180, ui)
        time.sleep(5)
        assert _stop(ui, home) < 25, log.read_text(errors="replace")[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED), run.status
