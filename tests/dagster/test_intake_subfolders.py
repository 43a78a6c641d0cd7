"""Job files in folders under the intake prefix (`workflow-input/team-a/<uuid>.json`) are job files, as the
reference's trigger takes them (an S3 notification on the prefix `workflow-input/` and the suffix `.json`
fires for any key below it): in the local folder and in S3 on the moto server, such a file runs, or is
refused with one record and one notice. Two files of one uuid in two folders are one job, whichever is
uploaded first and whether the intake finds them in one sweep or two: the earlier upload runs, the later is
reported once as a resubmission, and nothing more on later sweeps. `gs-dagster status` finds a job file
waiting in a folder."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import job_json
from intake_drops import Drops, cli_reads

from gs_dagster import cli


def _photos_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(3):
            archive.writestr(f"IMG_{index}.jpg", b"\xff\xd8\xff" + bytes(16))
    return buffer.getvalue()


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    made = (
        Drops.local(tmp_path, instance)
        if request.param == "local"
        else Drops.moto(request.getfixturevalue("aws"), instance)
    )
    made.put("media-input/photos.zip", _photos_zip())
    return made


def _job(drops: Drops, uuid: str, **options: object) -> str:
    return json.dumps(job_json(uuid, drops.bucket_name, "photos.zip", **options))


def test_a_job_file_in_a_folder_under_the_prefix_runs_once(drops: Drops) -> None:
    drops.put("workflow-input/team-a/2026/deep.json", _job(drops, "deep"))
    assert [r.partition_key for r in drops.tick().run_requests] == ["deep"]
    record = drops.records()["deep"]
    assert record.status == "SUBMITTED" and record.source_uri.endswith("workflow-input/team-a/2026/deep.json")
    for _ in range(2):
        assert drops.tick().run_requests == [] and drops.new_notices() == []


def test_a_bad_job_file_in_a_folder_gets_one_record_and_one_notice(drops: Drops) -> None:
    drops.put("workflow-input/team-a/bad.json", _job(drops, "bad", **{"training.maxSteps": 0}))
    drops.refused_once("bad", ["training.maxSteps"])


@pytest.mark.parametrize("first", ["workflow-input/twice.json", "workflow-input/team-b/twice.json"])
def test_one_uuid_in_two_folders_runs_once_and_the_later_upload_is_reported_once(drops: Drops, first: str) -> None:
    later = next(k for k in ("workflow-input/twice.json", "workflow-input/team-b/twice.json") if k != first)
    drops.put(first, _job(drops, "twice"))
    assert [r.partition_key for r in drops.tick().run_requests] == ["twice"]
    time.sleep(1.1)  # S3 keeps upload times to the second
    drops.put(later, _job(drops, "twice", **{"training.maxSteps": 30}))

    runs = [r for _ in range(4) for r in drops.tick().run_requests]
    assert runs == []
    (notice,) = drops.new_notices()
    assert notice["uuid"] == "twice" and notice["event"] == "DUPLICATE" and later in notice["text"]
    record = drops.records()["twice"]
    assert record.resubmissions == 1 and record.source_uri.endswith(first)  # the file that runs
    assert json.loads(record.spec)["training"]["maxSteps"] == 20  # the spec that runs is the first file's


@pytest.mark.parametrize("first", ["workflow-input/both.json", "workflow-input/team-b/both.json"])
def test_one_uuid_in_two_folders_in_one_sweep_runs_the_earlier_and_reports_the_later(drops: Drops, first: str) -> None:
    later = next(k for k in ("workflow-input/both.json", "workflow-input/team-b/both.json") if k != first)
    drops.put(first, _job(drops, "both"))
    time.sleep(1.1)
    drops.put(later, _job(drops, "both", **{"training.maxSteps": 30}))

    runs = [r.partition_key for _ in range(3) for r in drops.tick().run_requests]
    assert runs == ["both"]
    # As when the two are found in two sweeps, whichever of them the listing gives first: the earlier upload
    # runs, and the later one gets its notice, so neither file is left without one.
    (notice,) = drops.new_notices()
    assert notice["event"] == "DUPLICATE" and later in notice["text"], notice
    assert json.loads(drops.records()["both"].spec)["training"]["maxSteps"] == 20
    for _ in range(2):  # settled: neither file is taken up or reported again
        assert drops.tick().run_requests == [] and drops.new_notices() == []


def test_one_uuid_refused_in_one_folder_and_corrected_in_another_runs(drops: Drops) -> None:
    drops.put("workflow-input/fix.json", _job(drops, "fix", **{"training.maxSteps": 0}))
    drops.refused_once("fix", ["training.maxSteps"])
    time.sleep(1.1)
    drops.put("workflow-input/corrected/fix.json", _job(drops, "fix"))
    assert [r.partition_key for r in drops.tick().run_requests] == ["fix"]
    for _ in range(2):  # the refused file, older, is not taken up again
        assert drops.tick().run_requests == [] and drops.new_notices() == []
    assert drops.records()["fix"].status == "SUBMITTED"


def test_status_finds_a_job_file_waiting_in_a_folder(
    tmp_path: Path, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_reads(tmp_path, instance, monkeypatch)
    drops = Drops.local(tmp_path, instance)
    drops.put("workflow-input/team-a/waits.json", json.dumps(job_json("waits", "gs-local", "later.zip")))
    assert cli.main(["status", "waits"]) == 0
    out = capsys.readouterr().out
    assert f"waits: uploaded ({drops.config.bucket}/workflow-input/team-a/waits.json), waiting for its media" in out
    assert cli.main(["status"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("waits ")]
    assert "UPLOADED" in row and "later.zip" in row, row


@pytest.fixture
def local(tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    made = Drops.local(tmp_path, instance)
    made.put("media-input/photos.zip", _photos_zip())
    return made


def _copied_with_its_time(drops: Drops, key: str, days: float) -> None:
    """The local file as `cp -p`, rsync -a or a file manager leave it: its modification time is the source's."""
    then = time.time() - days * 86400
    os.utime(Path(drops.config.bucket) / key, (then, then))


@pytest.mark.parametrize("again", ["workflow-input/old/kept.json", "workflow-input/kept.json"])
def test_a_job_file_copied_in_with_an_older_time_is_reported_once(local: Drops, again: str) -> None:
    drops = local
    drops.put("workflow-input/kept.json", _job(drops, "kept"))
    assert [r.partition_key for r in drops.tick().run_requests] == ["kept"]
    drops.put(again, _job(drops, "kept", **{"training.maxSteps": 30}))
    _copied_with_its_time(drops, again, days=7)

    assert [r for _ in range(3) for r in drops.tick().run_requests] == []
    (notice,) = drops.new_notices()
    assert notice["event"] == "DUPLICATE" and again in notice["text"]
    record = drops.records()["kept"]
    assert record.resubmissions == 1 and json.loads(record.spec)["training"]["maxSteps"] == 20


@pytest.mark.parametrize("fixed", ["workflow-input/fixed/fixme.json", "workflow-input/fixme.json"])
def test_a_corrected_job_file_copied_in_with_an_older_time_runs(local: Drops, fixed: str) -> None:
    drops = local
    drops.put("workflow-input/fixme.json", _job(drops, "fixme", **{"training.maxSteps": 0}))
    drops.refused_once("fixme", ["training.maxSteps"])
    drops.put(fixed, _job(drops, "fixme"))
    _copied_with_its_time(drops, fixed, days=7)

    assert [r.partition_key for r in drops.tick().run_requests] == ["fixme"]
    for _ in range(2):  # the refused file, reported already, is not reported again
        assert drops.tick().run_requests == [] and drops.new_notices() == []
    assert drops.records()["fixme"].status == "SUBMITTED"


@pytest.mark.parametrize("first", ["workflow-input/early.json", "workflow-input/team-b/early.json"])
def test_one_uuid_in_two_folders_in_one_sweep_runs_the_file_that_arrived_first(local: Drops, first: str) -> None:
    """Ranked by arrival, as the rest of the intake counts a local file: the later copy keeps an older time."""
    drops = local
    later = next(k for k in ("workflow-input/early.json", "workflow-input/team-b/early.json") if k != first)
    drops.put(first, _job(drops, "early"))
    time.sleep(0.05)
    drops.put(later, _job(drops, "early", **{"training.maxSteps": 30}))
    _copied_with_its_time(drops, later, days=7)  # copied in after `first`, with its source's week-old time

    assert [r.partition_key for _ in range(3) for r in drops.tick().run_requests] == ["early"]
    record = drops.records()["early"]
    assert record.source_uri.endswith(first) and json.loads(record.spec)["training"]["maxSteps"] == 20
    (notice,) = drops.new_notices()
    assert notice["event"] == "DUPLICATE" and later in notice["text"], notice


def test_status_shows_one_row_per_uuid_naming_the_file_the_intake_runs(
    local: Drops, tmp_path: Path, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Two files of one uuid waiting in two folders: one row, naming the file that arrived first (the one the
    intake runs, though the other was copied in with an older time and lists first) and the later copy."""
    drops, runs, later = local, "workflow-input/team-b/pair.json", "workflow-input/pair.json"
    cli_reads(tmp_path, instance, monkeypatch)
    drops.put(runs, _job(drops, "pair"))
    time.sleep(0.05)
    drops.put(later, _job(drops, "pair", **{"training.maxSteps": 30}))
    _copied_with_its_time(drops, later, days=7)

    assert cli.main(["status"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("pair ")]
    assert "UPLOADED" in row and f"runs {runs}; later copy {later}: reported, or taken in if" in row, row
    assert cli.main(["status", "pair", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source_uri"].endswith(runs) and [Path(u).name for u in shown["later_copies"]] == ["pair.json"]
    assert shown["later_copies"][0].endswith(later)
    assert cli.main(["status", "pair"]) == 0
    assert f"also uploaded as {drops.config.bucket}/{later}: a later copy, reported" in capsys.readouterr().out

    assert [r.partition_key for _ in range(3) for r in drops.tick().run_requests] == ["pair"]  # what status said
    assert drops.records()["pair"].source_uri.endswith(runs)
    (notice,) = drops.new_notices()
    assert notice["event"] == "DUPLICATE" and later in notice["text"]
