"""`gs-dagster status` with an argument that is no uuid (a clear error, exit 2, nothing looked up in the
bucket), a refused job file recorded under a name that is no uuid (shown), and a reader that goes away
(`gs-dagster status | head`: exit 141 quietly, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gs_dagster import cli
from gs_dagster.resources.job_table import JobRecord, open_job_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def data_dir(embedded_env: Path) -> Path:
    return embedded_env


@pytest.mark.parametrize("argument", ["../../etc/passwd", "/etc/passwd", "a" * 37, "-", "x" * 5000, "a b"])
def test_status_of_something_that_is_no_uuid_says_so(
    data_dir: Path, argument: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", argument]) == 2
    captured = capsys.readouterr()
    assert "is not a job uuid" in captured.err and "gs-dagster status` lists the jobs" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_status_shows_a_refused_file_recorded_under_a_name_that_is_no_uuid(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = open_job_table(f"sqlite:///{data_dir / 'jobs.sqlite3'}")
    table.create(JobRecord(uuid=".x", status="FAILED", failed_at="intake", error="uuid must equal '.x'"))
    assert cli.main(["status", ".x"]) == 0
    assert ".x: FAILED" in capsys.readouterr().out


def test_status_into_a_closed_pipe_exits_quietly(data_dir: Path) -> None:
    table = open_job_table(f"sqlite:///{data_dir / 'jobs.sqlite3'}")
    for number in range(150):  # --json: ~100 KB, more than a pipe holds, so the writes meet the closed end
        table.create(JobRecord(uuid=f"job-{number:05d}", status="COMPLETE", submitted_at="2026-12-05T00:00:00"))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'container'}"}
    code = "import sys; from gs_dagster.cli import main; sys.exit(main(['status', '--json', '--limit', '150']))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # like `head -1`: read a line, then go away
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, error
    assert first.startswith(b"[") and error == ""
