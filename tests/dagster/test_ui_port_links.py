"""`gs-dagster ui --port N`: the links the notices carry open that UI (they pointed at port 3000, where
nothing answered, unless GS_DAGSTER_URL was set by hand too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gs_testkit import TEST_SETTINGS, job_json
from test_ui_process import _answers, _free_port

from tests.stages.media_files import blank_video


def _notices(outbox: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))] if outbox.is_dir() else []


@pytest.mark.slow
def test_a_run_notice_links_the_ui_on_the_port_it_was_started_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), GS_DATA_DIR=str(data), GS_SENSOR_INTERVAL_S="5")
    env["GS_STAGE_SETTINGS"] = json.dumps(TEST_SETTINGS)
    (data / "bucket" / "media-input").mkdir(parents=True)
    (data / "bucket" / "workflow-input").mkdir()
    blank_video(data / "bucket" / "media-input" / "notes.mp4")  # passes intake, fails its run in frames
    port = _free_port()
    command = [sys.executable, "-m", "gs_dagster.cli", "ui", "--port", str(port)]
    with (tmp_path / "ui.log").open("wb") as log:
        ui = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"http://127.0.0.1:{port}/server_info") and time.monotonic() < deadline:
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(0.5)
        job = json.dumps(job_json("renamed", "gs-local", "notes.mp4"))
        (data / "bucket" / "workflow-input" / "renamed.json").write_text(job)
        deadline = time.monotonic() + 240
        while not _notices(data / "outbox") and time.monotonic() < deadline:
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(0.5)
        (notice,) = _notices(data / "outbox")
        assert notice["event"] == "FAILED" and "frames taken from notes.mp4 are blank" in notice["text"], notice
        assert f"Dagster run: http://127.0.0.1:{port}/runs/" in notice["text"], notice["text"]
    finally:
        os.kill(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
