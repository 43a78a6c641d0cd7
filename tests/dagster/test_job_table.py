"""The job table: SQLite and DynamoDB (moto, real HTTP) behave the same, conditional writes included."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import pytest

from resources.job_table import DynamoJobTable, JobRecord, JobTable, RunOutcome, SqliteJobTable


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
