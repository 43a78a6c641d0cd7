"""The job table: SQLite and DynamoDB (moto, real HTTP) behave the same, conditional writes included."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import pytest

from gs_dagster.resources.job_table import JobRecord, JobTable, RunOutcome
from gs_dagster.resources.job_table_dynamo import DynamoJobTable
from gs_dagster.resources.job_table_sqlite import SqliteJobTable


@pytest.fixture(params=["sqlite", "dynamodb"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> JobTable:
    if request.param == "sqlite":
        return SqliteJobTable(tmp_path / "jobs.sqlite3")
    endpoint = request.getfixturevalue("moto_env")
    return DynamoJobTable(f"jobs-{uuidlib.uuid4().hex[:8]}", endpoint_url=endpoint, region="us-east-1")


def test_create_is_conditional_and_reads_back(table: JobTable) -> None:
    record = JobRecord(uuid="job-1", status="SUBMITTED", submitted_at="2026-01-01T00:00:00.000+00:00", spec="{}")
    assert table.create(record)
    assert not table.create(JobRecord(uuid="job-1", status="FAILED"))  # the first write wins
    got = table.get("job-1")
    assert got is not None and got.status == "SUBMITTED" and got.spec == "{}"
    assert table.get("nope") is None
    many = table.get_many(["job-1", "nope", "job-1"])
    assert list(many) == ["job-1"]


def test_batch_read_of_many_uuids(table: JobTable) -> None:
    for i in range(130):  # more than one DynamoDB batch (100)
        table.create(JobRecord(uuid=f"u{i:03d}", submitted_at=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}"))
    found = table.get_many([f"u{i:03d}" for i in range(0, 140)])
    assert len(found) == 130
    latest = table.list(limit=3)
    assert [r.uuid for r in latest] == ["u129", "u128", "u127"]


def test_resubmission_is_counted_once_per_upload(table: JobTable) -> None:
    table.create(JobRecord(uuid="j", source_etag="e1", status="COMPLETE"))
    assert table.record_resubmission("j", old_etag="e1", etag="e2", modified="m2")
    assert not table.record_resubmission("j", old_etag="e1", etag="e2", modified="m2")  # already reported
    record = table.get("j")
    assert record is not None and record.resubmissions == 1 and record.source_etag == "e2"
    assert record.status == "COMPLETE"


def test_the_same_bytes_uploaded_again_are_counted_once(table: JobTable) -> None:
    """Same ETag, a later arrival: two intakes that read the record before either wrote report it once."""
    table.create(JobRecord(uuid="j", source_etag="e1", source_modified="t1", status="COMPLETE"))
    assert table.record_resubmission("j", old_etag="e1", old_modified="t1", etag="e1", modified="t2")
    assert not table.record_resubmission("j", old_etag="e1", old_modified="t1", etag="e1", modified="t2")
    record = table.get("j")
    assert record is not None and record.resubmissions == 1 and record.source_modified == "t2"


def test_run_outcome_never_overwritten_by_an_older_run(table: JobTable) -> None:
    table.create(JobRecord(uuid="j", status="SUBMITTED"))
    newer = RunOutcome(
        run_id="r2",
        status="COMPLETE",
        started_at="2026-01-01T10:00:00.000+00:00",
        ended_at="2026-01-01T10:05:00.000+00:00",
        elapsed_s=300.0,
        stages=["splat", "spz"],
        outputs={".spz": "s3://b/workflow-output/j/j.spz"},
        metrics={"psnr": 24.5, "num_gaussians": 1000},
    )
    assert table.record_run("j", newer)
    older = RunOutcome(run_id="r1", status="FAILED", started_at="2026-01-01T09:00:00.000+00:00", error="boom")
    assert not table.record_run("j", older)
    record = table.get("j")
    assert record is not None
    assert (record.status, record.run_id, record.elapsed_s) == ("COMPLETE", "r2", 300.0)
    assert record.metrics == {"psnr": 24.5, "num_gaussians": 1000}
    assert record.outputs == {".spz": "s3://b/workflow-output/j/j.spz"}
    assert record.stages == ["splat", "spz"]


def test_intake_failure_can_be_replaced_by_a_corrected_upload(table: JobTable) -> None:
    table.create(JobRecord(uuid="j", status="FAILED", failed_at="intake", source_etag="bad", error="x"))
    fixed = JobRecord(uuid="j", status="SUBMITTED", source_etag="good", spec="{}")
    assert table.replace_intake_failure(fixed, old_etag="bad")
    assert not table.replace_intake_failure(fixed, old_etag="bad")
    record = table.get("j")
    assert record is not None and (record.status, record.failed_at, record.error) == ("SUBMITTED", "", "")


def test_a_refused_file_dropped_again_unchanged_is_replaced_once(table: JobTable) -> None:
    """The same bytes dropped again over a refused job file (same ETag, a later arrival): two intakes that read
    the record before either wrote refuse it once, or take it in once."""
    table.create(JobRecord(uuid="j", status="FAILED", failed_at="intake", source_etag="e", source_modified="t1"))
    again = JobRecord(uuid="j", status="FAILED", failed_at="intake", source_etag="e", source_modified="t2")
    assert table.replace_intake_failure(again, old_etag="e", old_modified="t1")
    assert not table.replace_intake_failure(again, old_etag="e", old_modified="t1")  # the second intake: no notice
    record = table.get("j")
    assert record is not None and record.source_modified == "t2"


def test_the_end_of_the_copy_taken_in_is_named_without_a_count(table: JobTable) -> None:
    """The record's own file, its time set back by the copy it was taken from: named, not counted, and only over
    the upload the caller read (another intake that named it first wins)."""
    table.create(JobRecord(uuid="j", status="SUBMITTED", source_etag="e1", source_modified="t1"))
    assert table.record_source("j", old_etag="e1", old_modified="t1", etag="e0", modified="t2")
    assert not table.record_source("j", old_etag="e1", old_modified="t1", etag="e0", modified="t2")
    record = table.get("j")
    assert record is not None and (record.source_etag, record.source_modified, record.resubmissions) == ("e0", "t2", 0)


def test_a_runs_start_never_overwrites_that_runs_end(table: JobTable) -> None:
    table.create(JobRecord(uuid="j", status="SUBMITTED"))
    start = "2026-01-01T10:00:00.000+00:00"
    assert table.record_run("j", RunOutcome(run_id="r1", status="FAILED", started_at=start, error="no photos"))
    assert not table.record_run("j", RunOutcome(run_id="r1", status="RUNNING", started_at=start))  # late start
    assert (table.get("j").status, table.get("j").error) == ("FAILED", "no photos")
    later = "2026-01-01T10:01:00.000+00:00"
    assert table.record_run("j", RunOutcome(run_id="r2", status="RUNNING", started_at=later))  # a re-run starts
    assert (table.get("j").status, table.get("j").run_id) == ("RUNNING", "r2")


def test_a_runs_notice_is_claimed_once_and_can_be_released(table: JobTable) -> None:
    assert not table.claim_notice("missing", "r1")
    table.create(JobRecord(uuid="j"))
    assert table.claim_notice("j", "r1") and not table.claim_notice("j", "r1")
    assert table.claim_notice("j", "r2")
    table.release_notice("j", "r1")  # its notice could not be sent: the next attempt claims it again
    assert table.get("j").notified_runs == ["r2"]
    assert table.claim_notice("j", "r1") and table.get("j").notified_runs == ["r2", "r1"]
    for i in range(60):  # a job re-run very often keeps the newest 50 claims
        assert table.claim_notice("j", f"x{i}")
    assert table.get("j").notified_runs == [f"x{i}" for i in range(10, 60)]


def test_error_text_of_any_size_fits_a_record(table: JobTable) -> None:
    problems = "\n".join(f"  - k{i}: unknown key 'k{i}'" for i in range(25_000))
    huge = f"invalid job JSON (25001 problems):\n  - {'x' * 300_000}: unknown key\n{problems}"
    assert table.create(JobRecord(uuid="j", status="FAILED", failed_at="intake", error=huge))
    error = table.get("j").error
    assert len(error.encode()) <= 32_000 and error.endswith("more problems")
    assert "299,4" in error.splitlines()[1] and "characters left out" in error.splitlines()[1]
    outcome = RunOutcome(run_id="r", status="FAILED", started_at="2026-01-01T10:00:00.000+00:00", error="y" * 500_000)
    assert table.record_run("j", outcome)
    assert table.get("j").error.endswith("characters left out)")


def test_another_folders_upload_seen_by_two_intakes_is_counted_once(table: JobTable) -> None:
    """Two intakes that read the record before either wrote: the other folder's file is reported once (the
    record's own source fields do not change with it, so they alone do not tell the second intake)."""
    table.create(JobRecord(uuid="j", source_uri="s3://b/in/j.json", source_etag="e1", source_modified="t1"))
    entry = "s3://b/in/team/j.json e9 t5"
    for _ in range(2):  # each intake's write, conditioned on what it read at its tick's start
        table.record_resubmission("j", old_etag="e1", old_modified="t1", etag="e9", modified="t5", other_source=entry)
    record = table.get("j")
    assert record is not None and record.resubmissions == 1 and record.other_sources == [entry]


def test_two_other_folders_uploads_written_at_once_are_both_kept(
    table: JobTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both intakes read the record, then both write: the second write does not drop the first one's entry or
    count (it fails, and its file is reported on a later tick)."""
    table.create(JobRecord(uuid="j", source_uri="s3://b/in/j.json", source_etag="e1", source_modified="t1"))
    stale = table.get("j")
    monkeypatch.setattr(table, "get", lambda uuid: stale)  # each writer read the record before the other wrote
    first = table.record_resubmission(
        "j", old_etag="e1", old_modified="t1", etag="a", modified="t2", other_source="u/a a t2"
    )
    second = table.record_resubmission(
        "j", old_etag="e1", old_modified="t1", etag="b", modified="t3", other_source="u/b b t3"
    )
    monkeypatch.undo()
    record = table.get("j")
    assert record is not None and (first, second) == (True, False)
    assert record.resubmissions == 1 and record.other_sources == ["u/a a t2"]
