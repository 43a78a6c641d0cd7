"""A job file dropped again unchanged (the same bytes: `cp -p` or a file manager over the same local path, which
keeps the old modification time; the same object PUT to S3 again, which keeps its ETag) is a new upload, as the
reference's S3 trigger fires on every PUT: it gets one outcome the user sees, never silence and never a second run.
A job refused at intake (its media was missing) runs once the same file is dropped again after its media; any
other job is reported once as a resubmission, saying how it stands and how to run it again, whether the
intake ticks before or after its run's end is recorded. A file that was not dropped again stays quiet.
Each test runs against the local folder and S3 on the moto server (the `drops` fixture, conftest.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import dagster as dg
import pytest
from gs_testkit import execute_without_sensors, job_json, status_sensor_tick
from intake_drops import Drops

from gs_dagster.resources.job_table import JobTable, JobTableError
from gs_dagster.sensors import intake_rules


def _text_photos() -> bytes:
    """Three photos by name that are text: intake takes the zip, the frames stage fails it within seconds."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            archive.writestr(name, "no photo here")
    return buffer.getvalue()


def dropped_again(drops: Drops, key: str) -> None:
    """The same bytes dropped again at `key`: locally over the file, keeping its modification time (`cp -p`);
    in S3 a new PUT of the same body (same ETag; S3 keeps upload times to the second)."""
    if drops.aws:
        body = drops.aws.s3.get_object(Bucket=drops.aws.bucket, Key=key)["Body"].read()
        time.sleep(1.1)
        drops.put(key, body)
        return
    path = Path(drops.config.bucket) / key
    before = path.stat()
    time.sleep(0.01)
    path.write_bytes(path.read_bytes())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_ctime_ns > before.st_ctime_ns


def _drop(drops: Drops, uuid: str, media: str) -> str:
    key = f"workflow-input/{uuid}.json"
    drops.put(key, json.dumps(job_json(uuid, drops.bucket_name, media)))
    return key


def test_a_refused_job_file_dropped_again_unchanged_after_its_media_runs(drops: Drops) -> None:
    key = _drop(drops, "late", "late.zip")
    drops.refused_once("late", ["media not found"])
    drops.put("media-input/late.zip", _text_photos())
    dropped_again(drops, key)

    assert [r.partition_key for r in drops.tick().run_requests] == ["late"]
    assert drops.records()["late"].status == "SUBMITTED" and drops.new_notices() == []
    for _ in range(2):  # the file, taken, stays quiet
        assert drops.tick().run_requests == [] and drops.new_notices() == []


def test_a_job_file_dropped_again_unchanged_is_reported_once_and_not_run_again(drops: Drops) -> None:
    drops.put("media-input/photos.zip", _text_photos())
    key = _drop(drops, "again", "photos.zip")
    assert [r.partition_key for r in drops.tick().run_requests] == ["again"]
    for _ in range(2):
        assert drops.tick().run_requests == [] and drops.new_notices() == []  # not dropped again: quiet
    dropped_again(drops, key)

    assert [r for _ in range(3) for r in drops.tick().run_requests] == []
    (notice,) = drops.new_notices()
    assert notice["uuid"] == "again" and notice["event"] == "DUPLICATE", notice
    assert "uploaded again" in notice["text"] and "The job is SUBMITTED" in notice["text"]
    assert "To run it again, submit it under a new uuid" in notice["text"]
    assert drops.records()["again"].resubmissions == 1
    dropped_again(drops, key)  # each drop is an upload: the second is reported too, once
    assert drops.tick().run_requests == [] and len(drops.new_notices()) == 1
    assert drops.records()["again"].resubmissions == 2


@pytest.mark.parametrize("first", ["intake", "run-status"])
def test_a_job_file_dropped_again_while_its_run_ends_gets_one_notice_whichever_sensor_ticks_first(
    drops: Drops, first: str
) -> None:
    drops.put("media-input/photos.zip", _text_photos())
    key = _drop(drops, "ending", "photos.zip")
    (request,) = drops.tick().run_requests
    run = execute_without_sensors(drops.runner, "ending", tags=dict(request.tags))
    assert not run.success
    status_sensor_tick(drops.runner, run.run_id, "RUNNING")
    dropped_again(drops, key)  # while the run is recorded RUNNING

    if first == "intake":
        assert drops.tick().run_requests == []
    status_sensor_tick(drops.runner, run.run_id, "FAILED")
    assert [r for _ in range(2) for r in drops.tick().run_requests] == []

    notices = drops.new_notices()
    assert sorted(n["event"] for n in notices) == ["DUPLICATE", "FAILED"], notices
    (duplicate,) = [n for n in notices if n["event"] == "DUPLICATE"]
    record = drops.records()["ending"]
    ended = f"since {record.ended_at[:19].replace('T', ' ')} UTC"
    said = f"The job is RUNNING (run {run.run_id});" if first == "intake" else f"is FAILED (run {run.run_id}) {ended};"
    assert said in duplicate["text"], duplicate["text"]
    assert (record.status, record.run_id, record.resubmissions) == ("FAILED", run.run_id, 1)
    assert len(drops.runner.instance.get_run_records(dg.RunsFilter(tags={"gs/uuid": "ending"}))) == 1


def test_a_record_written_before_arrival_times_were_kept_stays_quiet(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """A record made by an earlier version holds the job file's modification time (to the millisecond): the file
    it was made from, still there and not dropped again, is not reported after the upgrade, even when it was
    copied in with an older time (its arrival is later). Its next upload is reported and recorded by arrival."""
    drops = Drops.local(tmp_path, instance)
    drops.put("media-input/photos.zip", _text_photos())
    key = _drop(drops, "old", "photos.zip")
    path = Path(drops.config.bucket) / key
    then = time.time() - 7 * 86400
    os.utime(path, (then, then))  # copied in with `cp -p`: its arrival (ctime) is later than its time
    assert [r.partition_key for r in drops.tick().run_requests] == ["old"]
    from datetime import UTC, datetime

    legacy = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="milliseconds")
    with sqlite3.connect(drops.config.job_table.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE jobs SET source_modified = ? WHERE uuid = 'old'", (legacy,))
    for _ in range(2):
        assert drops.tick().run_requests == [] and drops.new_notices() == []
    drops.put(key, json.dumps(job_json("old", drops.bucket_name, "photos.zip", **{"training.maxSteps": 30})))
    assert drops.tick().run_requests == [] and [n["event"] for n in drops.new_notices()] == ["DUPLICATE"]
    assert drops.records()["old"].source_modified != legacy  # now its arrival: a later identical drop is told
    dropped_again(drops, key)
    assert drops.tick().run_requests == [] and [n["event"] for n in drops.new_notices()] == ["DUPLICATE"]


def _left_alone() -> datetime:
    """The intake's clock once the media just written has been left alone QUIET_S."""
    return datetime.now(UTC) + timedelta(seconds=intake_rules.QUIET_S + 0.1)


def test_a_job_file_copied_over_while_the_intake_ticks_is_reported_once_when_the_copy_ends(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp -p` over the file truncates it, writes it, then sets its old time back: each step changes it, and
    only the end is the upload. The intake reports it once it has been left alone (S3 lists only whole objects)."""
    monkeypatch.setattr(intake_rules, "QUIET_S", 1.0)
    drops = Drops.local(tmp_path, instance, media_wait_s=300.0)
    drops.put("media-input/photos.zip", _text_photos())
    key = _drop(drops, "copied", "photos.zip")
    assert drops.tick_at(_left_alone()) == ["copied"]  # its media just written: judged once left alone
    path = Path(drops.config.bucket) / key
    text, before = path.read_bytes(), path.stat()

    path.write_bytes(text[: len(text) // 2])  # the copy has written half
    assert drops.tick().run_requests == [] and drops.new_notices() == []
    path.write_bytes(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and ends, keeping the old time
    assert drops.tick().run_requests == [] and drops.new_notices() == []
    time.sleep(1.1)
    assert drops.tick().run_requests == []
    assert [n["event"] for n in drops.new_notices()] == ["DUPLICATE"]
    assert drops.tick().run_requests == [] and drops.new_notices() == []
    assert drops.records()["copied"].resubmissions == 1


def test_a_reported_copy_in_another_folder_dropped_again_unchanged_is_reported_again_once(drops: Drops) -> None:
    drops.put("media-input/photos.zip", _text_photos())
    _drop(drops, "two", "photos.zip")
    assert [r.partition_key for r in drops.tick().run_requests] == ["two"]
    time.sleep(1.1)  # S3 keeps upload times to the second
    other = "workflow-input/team-b/two.json"
    drops.put(other, json.dumps(job_json("two", drops.bucket_name, "photos.zip")))
    assert drops.tick().run_requests == [] and [n["event"] for n in drops.new_notices()] == ["DUPLICATE"]
    assert drops.tick().run_requests == [] and drops.new_notices() == []  # reported once

    dropped_again(drops, other)
    assert [r for _ in range(2) for r in drops.tick().run_requests] == []
    (notice,) = drops.new_notices()
    assert notice["event"] == "DUPLICATE" and other in notice["text"]
    record = drops.records()["two"]
    assert record.resubmissions == 2 and record.source_uri.endswith("workflow-input/two.json")


def test_a_job_file_dropped_again_after_the_intake_gave_up_on_its_last_drop_is_reported(
    drops: Drops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake gives up on an upload it failed to handle `max_attempts` ticks in a row (the table unwritable,
    say): the same bytes dropped again later are a new upload, reported once, not given up on with it."""
    monkeypatch.setattr(intake_rules, "QUIET_S", 0.0)
    drops.put("media-input/photos.zip", _text_photos())
    key = _drop(drops, "gaveup", "photos.zip")
    assert [r.partition_key for r in drops.tick().run_requests] == ["gaveup"]

    def unwritable(*args: object, **kwargs: object) -> bool:
        raise JobTableError("the job table could not be written (test)")

    with monkeypatch.context() as fault:
        fault.setattr(JobTable, "record_resubmission", unwritable)
        dropped_again(drops, key)
        for _ in range(3):  # max_attempts
            assert drops.tick().run_requests == []
    assert drops.tick().run_requests == [] and drops.new_notices() == []  # that drop was given up on
    dropped_again(drops, key)
    assert [r for _ in range(2) for r in drops.tick().run_requests] == []
    assert [n["event"] for n in drops.new_notices()] == ["DUPLICATE"]
    assert drops.records()["gaveup"].resubmissions == 1


@pytest.mark.parametrize("refused", [False, True])
def test_a_job_file_taken_in_while_its_copy_sets_its_time_back_is_not_reported_again(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    """`cp -p` writes the file, then sets its old time back: a tick between the two takes the whole file in (a new
    job, or a refused one dropped again after its media), and the time set back is the end of that same copy,
    not a second drop: no DUPLICATE notice for it, however long after it is looked at."""
    monkeypatch.setattr(intake_rules, "QUIET_S", 0.5)
    monkeypatch.setattr(intake_rules, "COPY_END_S", 5.0)  # a tick's whole length here, a moment in a real copy
    drops = Drops.local(tmp_path, instance, media_wait_s=300.0)
    uuid = f"cpp-{refused}"
    key = f"workflow-input/{uuid}.json"
    path = Path(drops.config.bucket) / key
    text = json.dumps(job_json(uuid, drops.bucket_name, "photos.zip")).encode()
    old = time.time_ns() - 7 * 86400 * 10**9
    if refused:  # its media empty: refused once left alone
        drops.put("media-input/photos.zip", b"")
        drops.put(key, text)
        os.utime(path, ns=(old, old))
        time.sleep(0.6)
        drops.refused_once(uuid, ["empty"])
    drops.put("media-input/photos.zip", _text_photos())
    drops.put(key, text)  # the copy has written the file ...
    assert drops.tick_at(_left_alone()) == [uuid]  # (its media, just written, left alone)
    os.utime(path, ns=(old, old))  # ... and sets its source's time back
    assert drops.tick().run_requests == []
    time.sleep(0.6)  # left alone
    for _ in range(2):
        assert drops.tick().run_requests == []
    assert drops.new_notices() == [] and drops.records()[uuid].resubmissions == 0
