"""The intake sensor: validation, FAILED records with notices, the media wait, resubmissions, the cursor,
and a tick over 10,000 job keys (moto over real HTTP; the embedded local folder where noted).

Ticks run the real `job_intake` sensor function with its resources (EmbeddedRunner.intake_tick)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from gs_testkit import AwsSandbox, job_json, local_config, runner_for

from gs_dagster.config import GsConfig
from gs_dagster.resources.job_table import JobRecord, open_job_table
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.sensors.intake import Intake, IntakeCursor


def _table(config: GsConfig):
    return open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)


def test_invalid_jobs_get_a_failed_record_and_a_notice(aws: AwsSandbox, instance: dg.DagsterInstance) -> None:
    config = aws.config()
    runner = runner_for(config, instance)
    aws.put("media-input/clip.mp4", b"not really a video")
    bad = job_json("bad-1", "someone-elses-bucket", "clip.mp4", **{"training.maxStep": 10})
    aws.put("workflow-input/bad-1.json", json.dumps(bad))
    aws.put("workflow-input/bad-2.json", "{ this is not json")
    aws.put("workflow-input/bad-3.json", json.dumps(job_json("other-name", aws.bucket, "clip.mp4")))

    tick = runner.intake_tick()

    assert tick.run_requests == [] and tick.added_partitions == []
    for uuid, expected in (
        ("bad-1", ["s3.bucketName", "training.maxStep", "unknown key"]),
        ("bad-2", ["not valid JSON"]),
        ("bad-3", ["uuid", "must equal the file's base name"]),
    ):
        record = aws.record(uuid)
        assert record is not None, uuid
        assert record["status"] == "FAILED" and record["failed_at"] == "intake"
        for text in expected:
            assert text in record["error"], (uuid, record["error"])
    notices = {n["attributes"]["uuid"]: n for n in aws.notices()}
    assert set(notices) == {"bad-1", "bad-2", "bad-3"}
    assert "FAILED" in notices["bad-1"]["subject"] and "training.maxStep" in notices["bad-1"]["text"]
    # Nothing is reported twice: the next tick finds every key handled.
    assert runner.intake_tick().run_requests == [] and aws.notices() == []


def test_a_job_this_build_cannot_run_is_refused_at_intake_with_every_reason(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "n.mp4").write_bytes(b"mp4")
    (bucket / "workflow-input").mkdir(parents=True)
    options = {"training.model": "3dgrt", "segmentation.removeBackground": "true"}
    options["segmentation.backgroundRemovalModel"] = "u2net-human"
    options["segmentation.removeHumanSubject"] = "true"
    (bucket / "workflow-input" / "nerf.json").write_text(json.dumps(job_json("nerf", "gs-local", "n.mp4", **options)))

    tick = runner.intake_tick()

    assert tick.run_requests == [] and tick.added_partitions == []  # no run, no GPU minute spent
    record = _table(config).get("nerf")
    assert record is not None and record.status == "FAILED" and record.failed_at == "intake"
    assert "cannot run the job (2 reasons)" in record.error
    assert "training.model: training.model '3dgrt' is not available" in record.error
    assert (
        "segmentation.removeHumanSubject: segmentation.removeHumanSubject with backgroundRemovalModel" in record.error
    )
    outbox = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert [n["uuid"] for n in outbox] == ["nerf"] and "what to try" in outbox[0]["text"]


def test_missing_media_waits_a_bounded_time_then_fails(tmp_path: Path) -> None:
    config = local_config(tmp_path, media_wait_s=120.0)
    bucket = Path(config.bucket)
    (bucket / "workflow-input").mkdir(parents=True)
    (bucket / "workflow-input" / "late.json").write_text(json.dumps(job_json("late", "gs-local", "late.mp4")))
    resources = config.resources()
    intake = Intake(
        bucket=resources["bucket"],
        job_table=resources["job_table"].table(),
        notifier=resources["notifier"],
        settings=resources["intake"],
    )
    now = datetime.now(UTC)
    first = intake.tick(IntakeCursor(), now=now + timedelta(seconds=30))
    assert first.deferred == 1 and first.run_requests == [] and _table(config).get("late") is None

    second = intake.tick(IntakeCursor(), now=now + timedelta(seconds=600))
    record = _table(config).get("late")
    assert second.refused == 1 and record is not None and record.status == "FAILED"
    assert "media not found" in record.error and "media-input/late.mp4" in record.error
    outbox = NotifierResource(outbox_dir=config.outbox_dir).outbox()
    assert [n["uuid"] for n in outbox] == ["late"] and "media not found" in outbox[0]["text"]


def test_resubmitted_uuid_is_reported_and_never_run_again(aws: AwsSandbox, instance: dg.DagsterInstance) -> None:
    runner = runner_for(aws.config(), instance)
    aws.put("media-input/a.zip", b"zip")
    document = job_json("again", aws.bucket, "a.zip")
    aws.put("workflow-input/again.json", json.dumps(document))
    first = runner.intake_tick()
    assert [r.run_key for r in first.run_requests] == ["again"] and first.added_partitions == ["again"]
    assert instance.get_dynamic_partitions("jobs") == ["again"]

    assert runner.intake_tick().run_requests == []  # same object: already handled

    document["training"]["maxSteps"] = 99  # uploaded again, changed
    aws.put("workflow-input/again.json", json.dumps(document))
    third = runner.intake_tick()
    assert third.run_requests == []
    record = aws.record("again")
    assert record is not None and int(record["resubmissions"]) == 1 and record["status"] == "SUBMITTED"
    notices = aws.notices()
    assert [n["attributes"]["event"] for n in notices] == ["DUPLICATE"]
    assert "runs only once" in notices[0]["text"]
    assert runner.intake_tick().run_requests == [] and aws.notices() == []


def test_a_corrected_upload_replaces_a_job_refused_at_intake(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    runner = runner_for(config, instance)
    inbox = Path(config.bucket) / "workflow-input"
    inbox.mkdir(parents=True)
    (inbox / "fixme.json").write_text(json.dumps(job_json("fixme", "gs-local", "f.zip")))
    runner.intake_tick()
    assert _table(config).get("fixme").status == "FAILED"  # no media yet (no wait configured)

    media = Path(config.bucket) / "media-input" / "f.zip"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"zip")
    time.sleep(0.01)
    (inbox / "fixme.json").write_text(json.dumps(job_json("fixme", "gs-local", "f.zip")) + "\n")
    tick = runner.intake_tick()
    assert [r.partition_key for r in tick.run_requests] == ["fixme"]
    assert _table(config).get("fixme").status == "SUBMITTED"


def test_cursor_is_a_position_not_the_truth(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    """Capped ticks continue where they stopped; keys landing before the position (random names, the same
    second) are found on the next sweep; nothing is requested twice."""
    config = local_config(tmp_path, max_new_jobs_per_tick=5)
    runner = runner_for(config, instance)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "m.zip").write_bytes(b"zip")
    inbox = bucket / "workflow-input"
    inbox.mkdir()
    names = [f"m{i:02d}" for i in range(12)]
    for name in names:
        (inbox / f"{name}.json").write_text(json.dumps(job_json(name, "gs-local", "m.zip")))

    requested: list[str] = []
    tick = runner.intake_tick()
    requested += [r.run_key for r in tick.run_requests]
    assert len(tick.run_requests) == 5 and IntakeCursor.parse(runner.cursor).after.endswith("m04.json")
    # Uploads that sort before the position, all in the same second.
    for name in ("a-early", "b-early"):
        (inbox / f"{name}.json").write_text(json.dumps(job_json(name, "gs-local", "m.zip")))
    for _ in range(4):
        requested += [r.run_key for r in runner.intake_tick().run_requests]
    assert sorted(requested) == sorted([*names, "a-early", "b-early"])
    assert len(requested) == len(set(requested))


def test_sensor_tick_with_10000_job_keys(aws: AwsSandbox, instance: dg.DagsterInstance) -> None:
    """10,000 handled jobs under the prefix plus new ones at random names: every tick stays far inside the
    60 s sensor timeout, and one sweep finds all new jobs."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    config = aws.config()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    table = _table(config)
    records = []
    started = time.perf_counter()
    for _ in range(10_000):  # seeded in-process (moto's HTTP PUT costs ~5 ms each); read back over HTTP
        uuid = str(uuidlib.uuid4())
        body = json.dumps(job_json(uuid, aws.bucket, "m.zip")).encode()
        backend.put_object(aws.bucket, f"workflow-input/{uuid}.json", body)
        records.append({"uuid": uuid, "status": "COMPLETE", "source_etag": hashlib.md5(body).hexdigest()})
    with aws.dynamodb.Table(aws.table).batch_writer() as batch:
        for item in records:
            batch.put_item(Item=item)
    seeded = time.perf_counter() - started
    assert len(table.get_many([records[0]["uuid"], records[-1]["uuid"]])) == 2

    aws.put("media-input/m.zip", b"zip")
    new = [str(uuidlib.uuid4()) for _ in range(5)]
    for uuid in new:
        aws.put(f"workflow-input/{uuid}.json", json.dumps(job_json(uuid, aws.bucket, "m.zip")))

    runner = runner_for(config, instance)
    tick_seconds, requested = [], []
    for _ in range(10):
        started = time.perf_counter()
        tick = runner.intake_tick()
        tick_seconds.append(time.perf_counter() - started)
        requested += [r.run_key for r in tick.run_requests]
        if IntakeCursor.parse(runner.cursor).after == "":
            break
    print(
        f"\n10,000 keys (+5 new): seeded in {seeded:.1f} s; sweep took {len(tick_seconds)} tick(s) of "
        f"{', '.join(f'{s:.2f}' for s in tick_seconds)} s (max_keys_per_tick={config.max_keys_per_tick})"
    )
    assert sorted(requested) == sorted(new)
    assert len(tick_seconds) == 3  # 10,005 keys at 5,000 per tick
    assert max(tick_seconds) < 20.0, tick_seconds  # the default sensor timeout is 60 s
    assert table.get(new[0]) is not None and table.get(new[0]).status == "SUBMITTED"


def test_run_request_lost_after_recording_is_requested_again(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    config = local_config(tmp_path)
    table = _table(config)
    bucket = Path(config.bucket)
    (bucket / "media-input").mkdir(parents=True)
    (bucket / "media-input" / "m.zip").write_bytes(b"zip")
    (bucket / "workflow-input").mkdir()
    job = bucket / "workflow-input" / "lost.json"
    job.write_text(json.dumps(job_json("lost", "gs-local", "m.zip")))
    from gs_dagster.resources.storage import LocalStore

    info = LocalStore(bucket).head("workflow-input/lost.json")
    # As if a tick recorded the job and died before returning its run request.
    table.create(JobRecord(uuid="lost", status="SUBMITTED", source_etag=info.etag, spec="{}"))
    tick = runner_for(config, instance).intake_tick()
    assert [r.run_key for r in tick.run_requests] == ["lost"]
