"""A job file whose media is not in the bucket yet: the intake waits for it (GS_MEDIA_WAIT_S), and
`gs-dagster status` says the job waits for its media and where to put it, not that Dagster is not running."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import job_json, local_config, runner_for

from gs_dagster import cli
from gs_dagster.config import GsConfig


def _embedded(tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> GsConfig:
    """The embedded default under tmp_path for `gs-dagster status`, its intake waiting 300 s for media."""
    for name in ("GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_OUTBOX", "GS_MEDIA_WAIT_S"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    return local_config(tmp_path, media_wait_s=300.0)


def test_status_says_a_job_waits_for_its_media_until_it_is_uploaded(
    tmp_path: Path, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _embedded(tmp_path, instance, monkeypatch)
    inbox = Path(config.bucket) / "workflow-input"
    inbox.mkdir(parents=True)
    (inbox / "early.json").write_text(json.dumps(job_json("early", "gs-local", "scan.zip")))

    tick = runner_for(config, instance).intake_tick()
    assert tick.run_requests == []  # it waits for the media: no record yet, no notice
    media = f"{config.bucket}/media-input/scan.zip"

    assert cli.main(["status", "early"]) == 0
    out = capsys.readouterr().out
    assert f"early: uploaded ({inbox}/early.json), waiting for its media {media}" in out, out
    assert "upload it there; the intake refuses the job 300 s after the job file's upload" in out
    assert cli.main(["status", "early", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["waiting_for_media"] == media
    assert cli.main(["status"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("early ")]
    assert row.split()[1:3] == ["scan.zip", "UPLOADED"] and row.endswith("(waiting for its media)"), row

    (Path(config.bucket) / "media-input").mkdir()
    (Path(config.bucket) / "media-input" / "scan.zip").write_bytes(b"PK\x03\x04" + bytes(60))
    assert cli.main(["status", "early"]) == 0
    out = capsys.readouterr().out
    assert "early: uploaded" in out and "waiting for its media" not in out
    assert "waiting for intake: its media" in out  # just written: judged once left alone (next test)


def test_status_says_a_job_waits_for_its_media_just_written_to_be_left_alone(
    tmp_path: Path, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The media is there but written a moment ago (a copy may go on): not missing, and why intake waits.
    config = _embedded(tmp_path, instance, monkeypatch)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "scan.zip").write_bytes(b"PK\x03\x04" + bytes(60))  # the copy's first part
    (bucket / "workflow-input").mkdir()
    (bucket / "workflow-input" / "copying.json").write_text(json.dumps(job_json("copying", "gs-local", "scan.zip")))
    assert runner_for(config, instance).intake_tick().run_requests == []
    media = f"{config.bucket}/media-input/scan.zip"

    assert cli.main(["status", "copying"]) == 0
    out = capsys.readouterr().out
    assert f"waiting for intake: its media {media} changed" in out and "once left alone 15 s" in out, out
    assert cli.main(["status", "copying", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["media_written_recently"] == media and found["waiting_for_media"] is None
    assert cli.main(["status"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("copying ")]
    assert row.endswith("(waiting for intake: its media just written)"), row
