"""The job table failing under the sensors (issue 15 class 11): the SQLite file cannot be written (as on a
full disk) while a run ends: the sensor logs one clear line, no traceback, and the update is not lost:
the job_record_sweep sensor records it and sends the notice once the table is writable again. DynamoDB
batch reads whose keys come back unprocessed (throttling) are retried with growing waits, then reported.
"""

from __future__ import annotations

import io
import itertools
import json
import time
import uuid as uuidlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from gs_testkit import (
    AwsSandbox,
    execute_without_sensors,
    job_json,
    local_config,
    runner_for,
    status_sensor_tick,
    sweep_tick,
)

from gs_dagster.resources import job_table_dynamo
from gs_dagster.resources.job_table import JobRecord, JobTableError, open_job_table
from gs_dagster.resources.job_table_dynamo import DynamoJobTable
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.submit import submit


def test_a_job_table_that_cannot_be_written_loses_no_update(
    tmp_path: Path, instance: dg.DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    media = tmp_path / "notes.zip"
    with zipfile.ZipFile(media, "w") as archive:
        for name in ("a.jpg", "b.jpg", "c.jpg"):  # photos by name, not by content: the run fails in frames
            archive.writestr(name, "no photo here")
    config = local_config(tmp_path / "data")
    runner = runner_for(config, instance)
    cursor, _ = sweep_tick(runner, None, later_s=-3600)
    uuid = submit(media, config=config).uuid
    (request,) = runner.intake_tick().run_requests
    run_id = execute_without_sensors(runner, uuid, tags=dict(request.tags)).run_id

    path = Path(config.job_table.removeprefix("sqlite:///"))
    path.rename(tmp_path / "jobs.sqlite3.kept")  # the job table's file cannot be opened for writing
    path.mkdir()
    capfd.readouterr()
    status_sensor_tick(runner, run_id, "FAILED")  # the sensor's tick does not fail
    said = capfd.readouterr().err
    (error,) = [line for line in said.splitlines() if " - ERROR - " in line]
    assert error.endswith(
        f"run {run_id} (FAILED) not recorded yet (job_record_sweep retries): the job table {path} could not be "
        "read or written: unable to open database file. To fix: check that the file can be written (or point "
        "GS_JOB_TABLE at another place)"
    )
    assert "Traceback" not in said
    outbox = NotifierResource(outbox_dir=config.outbox_dir)
    assert outbox.outbox() == []
    cursor, said = sweep_tick(runner, cursor, later_s=120)  # still failing: said once more, cursor kept
    assert "stopped at run" in said and outbox.outbox() == []

    path.rmdir()
    (tmp_path / "jobs.sqlite3.kept").rename(path)  # space again
    cursor, said = sweep_tick(runner, cursor, later_s=120)  # the next tick records it and notifies
    assert "settled 1" in said
    record = open_job_table(config.job_table).get(uuid)
    assert (record.status, record.run_id, record.notified_runs) == ("FAILED", run_id, [run_id])
    status_sensor_tick(runner, run_id, "FAILED")
    sweep_tick(runner, cursor, later_s=240)
    assert [(n["event"], n["details"]["run_id"]) for n in outbox.outbox()] == [("FAILED", run_id)]


@pytest.fixture()
def dynamo_table(moto_env: str) -> Iterator[DynamoJobTable]:
    table = DynamoJobTable(f"jobs-{uuidlib.uuid4().hex[:8]}", endpoint_url=moto_env, region="us-east-1")
    yield table


def _throttle(table: DynamoJobTable, times: int, calls: list[float]) -> Any:
    """Make DynamoDB's answers to the next `times` batch reads leave every key unprocessed, as a throttled
    table does (moto never throttles); records when each read was made."""

    def unprocessed(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(time.monotonic())
        if len(calls) <= times:
            keys = [{"uuid": item["uuid"]} for item in parsed["Responses"].pop(table.table_name, [])]
            parsed["Responses"][table.table_name] = []
            parsed["UnprocessedKeys"] = {table.table_name: {"Keys": keys, "ConsistentRead": True}}

    table.resource.meta.client.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    return unprocessed


def test_unprocessed_keys_are_retried_with_back_off(dynamo_table: DynamoJobTable) -> None:
    for i in range(3):
        dynamo_table.create(JobRecord(uuid=f"u{i}"))
    calls: list[float] = []
    handler = _throttle(dynamo_table, 3, calls)
    try:
        assert sorted(dynamo_table.get_many(["u0", "u1", "u2"])) == ["u0", "u1", "u2"]
        waits = [b - a for a, b in itertools.pairwise(calls)]
        assert len(calls) == 4
        for attempt, wait in enumerate(waits, start=1):  # at least half of 50 ms * 2**attempt
            assert wait >= job_table_dynamo.UNPROCESSED_BASE_S * 2**attempt / 2, waits

        calls.clear()
        dynamo_table.resource.meta.client.meta.events.unregister("after-call.dynamodb.BatchGetItem", handler)
        handler = _throttle(dynamo_table, 100, calls)
        started = time.monotonic()
        with pytest.raises(JobTableError, match=r"left 3 key\(s\) unprocessed after 6 retries with back-off"):
            dynamo_table.get_many(["u0", "u1", "u2"])
        assert len(calls) == 7 and time.monotonic() - started >= 3.1  # waited, not a tight loop
    finally:
        dynamo_table.resource.meta.client.meta.events.unregister("after-call.dynamodb.BatchGetItem", handler)


def test_status_with_a_job_table_that_cannot_be_opened_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gs_dagster import cli

    (tmp_path / "jobs.sqlite3").mkdir()  # the table's file cannot be opened
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GS_JOB_TABLE", f"sqlite:///{tmp_path}/jobs.sqlite3")
    assert cli.main(["status"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: GS_JOB_TABLE=sqlite:///{tmp_path}/jobs.sqlite3: cannot open the job table: the ")
    assert "unable to open database file. To fix: check that the file can be written" in error
    assert "Traceback" not in error


def test_a_notice_sns_refuses_is_sent_by_the_next_sweep(aws: AwsSandbox, instance: dg.DagsterInstance) -> None:
    good = runner_for(aws.config(), instance)
    cursor, _ = sweep_tick(good, None, later_s=-3600)
    broken = runner_for(aws.config(notifier=f"{aws.topic_arn}-deleted"), instance)  # SNS answers NotFound
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("a.jpg", "b.jpg", "c.jpg"):  # photos by name, not by content: the run fails in frames
            zipped.writestr(name, "no photo here")
    aws.put("media-input/notes.zip", archive.getvalue())
    aws.put("workflow-input/sns-down.json", json.dumps(job_json("sns-down", aws.bucket, "notes.zip")))
    (request,) = broken.intake_tick().run_requests
    run_id = execute_without_sensors(broken, "sns-down", tags=dict(request.tags)).run_id
    status_sensor_tick(broken, run_id, "RUNNING")
    status_sensor_tick(broken, run_id, "FAILED")  # the record is written, the notice refused
    record = aws.record("sns-down")
    assert (record["status"], record["run_id"], record.get("notified_runs")) == ("FAILED", run_id, [])
    assert aws.notices() == []

    cursor, said = sweep_tick(good, cursor, later_s=120)  # SNS reachable again
    assert "settled 1" in said
    (notice,) = aws.notices()
    assert notice["attributes"] == {"uuid": "sns-down", "event": "FAILED"} and run_id in notice["text"]
    assert aws.record("sns-down")["notified_runs"] == [run_id]
    sweep_tick(good, cursor, later_s=240)
    assert aws.notices() == []
