"""`gs-dagster status` names each job by its uploaded file and says where a waiting job stands in line;
`gs-dagster submit`'s watch link opens that job's partition in the UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest
from gs_testkit import TEST_OPTIONS, local_config, runner_for

from gs_dagster import cli


@pytest.fixture()
def env(tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded default under tmp_path, with DAGSTER_HOME the test instance's (status reads its run queue)."""
    for name in ("GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_OUTBOX", "GS_DAGSTER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    return tmp_path / "data"


def _submit(media: Path, capsys: pytest.CaptureFixture[str], uploaded_at: float) -> tuple[str, str]:
    """Submit `media`; (uuid, what submit printed on stderr). The job file's modification time is set to
    `uploaded_at`; it arrives (its ctime) when this is called."""
    assert cli.main(["submit", str(media), "--max-steps", str(TEST_OPTIONS["training.maxSteps"])]) == 0
    out, err = capsys.readouterr()
    uuid = out.strip()
    job_file = Path(os.environ["GS_DATA_DIR"]) / "bucket" / "workflow-input" / f"{uuid}.json"
    os.utime(job_file, (uploaded_at, uploaded_at))
    return uuid, err


def _rows(capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    assert cli.main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line.split() for line in lines[1:] if line[:1].isalnum() and "-" in line.split()[0]}


def _enqueue(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    """A run put in the run queue by Dagster itself: `dagster job launch` submits it to the instance's
    QueuedRunCoordinator, and with no daemon running it stays QUEUED."""
    project = Path(__file__).resolve().parents[2]
    run_id = str(uuidlib.uuid4())
    command = [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", str(project / "workspace.yaml")]
    command += ["-j", "reconstruct", "--tags", json.dumps(tags), "--run-id", run_id]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    queued = instance.get_run_by_id(run_id)
    assert queued is not None and queued.status == dg.DagsterRunStatus.QUEUED, done.stderr[-2000:]
    return queued


def _copy(sample_zip: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(sample_zip.read_bytes())
    return target


def test_watch_link_opens_the_jobs_partition(
    env: Path, sample_zip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GS_DAGSTER_URL", "http://ui.example:3000/")
    media = _copy(sample_zip, env.parent / "media", "kermit photos.zip")
    uuid, err = _submit(media, capsys, 1_000_000.0)
    (watch,) = [line.split()[1] for line in err.splitlines() if line.strip().startswith("watch:")]
    url = urlsplit(watch)
    assert (url.scheme, url.netloc, url.path) == ("http", "ui.example:3000", "/assets/spz")
    # the partitions view with this partition selected: the overview (no view=) shows any job's latest
    assert parse_qs(url.query) == {"view": ["partitions"], "partition": [uuid]}
    assert "name:   kermit photos.zip" in err
    assert cli.main(["submit", str(media), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert parse_qs(urlsplit(printed["watch"]).query)["partition"] == [printed["uuid"]]


def test_status_names_jobs_and_gives_queue_places(
    env: Path, instance: dg.DagsterInstance, sample_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    media = env.parent / "media"
    first, _ = _submit(_copy(sample_zip, media, "apple.zip"), capsys, 1_000_000.0)
    second, _ = _submit(_copy(sample_zip, media, "kermit.zip"), capsys, 1_000_100.0)
    # The intake takes those two in (records, run requests); their runs wait in Dagster's run queue, the
    # second job's run queued first. Two more uploads, not taken in yet: they wait in the order they arrived
    # (a local file's ctime), whatever modification time a copy keeps (fox.zip's job file keeps an older one).
    runner = runner_for(local_config(env), instance)
    requests = {r.partition_key: r for r in runner.intake_tick().run_requests}
    assert set(requests) == {first, second}
    runs = {uuid: _enqueue(instance, requests[uuid].tags) for uuid in (second, first)}
    third, _ = _submit(_copy(sample_zip, media, "lund.zip"), capsys, 1_000_300.0)
    fourth, _ = _submit(_copy(sample_zip, media, "fox.zip"), capsys, 1_000_200.0)

    rows = _rows(capsys)
    assert rows[first][1] == "apple.zip" and rows[second][1] == "kermit.zip"
    assert rows[second][2:4] == ["SUBMITTED", "1/4"] and rows[first][2:4] == ["SUBMITTED", "2/4"]
    assert rows[third][1:4] == ["lund.zip", "UPLOADED", "3/4"] and rows[fourth][1:4] == ["fox.zip", "UPLOADED", "4/4"]

    assert cli.main(["status", first]) == 0
    out = capsys.readouterr().out
    assert "  name: apple.zip" in out and f"queue place: 2 of 4 waiting (run {runs[first].run_id[:8]} queued)" in out
    assert cli.main(["status", fourth]) == 0
    assert "queue place: 4 of 4 waiting (upload not taken in yet)" in capsys.readouterr().out
    assert cli.main(["status", first, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queue_place"] == 2

    # A higher dagster/priority goes first, as the QueuedRunCoordinator takes it.
    instance.add_run_tags(runs[first].run_id, {"dagster/priority": "5"})
    rows = _rows(capsys)
    assert rows[first][3] == "1/4" and rows[second][3] == "2/4"
    # A run that left the queue leaves the line: the others move up.
    instance.delete_run(runs[first].run_id)
    rows = _rows(capsys)
    assert "/" not in rows[first][3]  # no queue place: the submitted time follows the status
    assert rows[second][3] == "1/3" and rows[third][3] == "2/3" and rows[fourth][3] == "3/3"


def test_status_without_a_dagster_instance_has_no_queue_places(
    tmp_path: Path, sample_zip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """status never creates a DAGSTER_HOME; with none started, uploads still list (no place to give)."""
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "never-started"))
    uuid, _ = _submit(_copy(sample_zip, tmp_path / "media", "apple.zip"), capsys, 1_000_000.0)
    rows = _rows(capsys)
    assert rows[uuid][1:4] == ["apple.zip", "UPLOADED", "1/1"]
    assert not (tmp_path / "never-started").exists()
