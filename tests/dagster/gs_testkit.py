"""Helpers of the Dagster tests: test-sized job options, the embedded and AWS (moto) setups, event-log reading."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from gs_dagster.config import GsConfig
from gs_dagster.definitions import build_definitions
from gs_dagster.embedded import EmbeddedRunner

#: Job options of test jobs: small, CPU-friendly (the job JSON defaults are GPU-sized).
TEST_OPTIONS: dict[str, Any] = {"training.maxSteps": 20, "sfm.matchingMethod": "exhaustive"}
#: Engine settings of test runs (CPU speed).
#: Small sizes keep the pipeline tests quick: the fly-through is 4 frames of 64 px, the thumbnail 64 px, and the
#: .sog (splat-transform, ~20 s on the CI machine) is left to tests/stages/test_export_media.py.
TEST_SETTINGS: dict[str, Any] = {
    "max_image_side": 240,
    "image_downscale": 2,
    "flythrough_seconds": 1,
    "flythrough_fps": 4,
    "flythrough_long_side": 64,
    "thumbnail_long_side": 64,
    "sog": "false",
}
#: Low enough for a few dozen CPU training steps (both PSNR bars); the PSNR tests set their own.
TEST_MIN_PSNR = 5.0


def dagster_home(root: Path) -> Path:
    """A DAGSTER_HOME under `root` with telemetry off (for `DagsterInstance.local_temp`, or the CLI's)."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


def local_config(root: Path, **changes: Any) -> GsConfig:
    """The embedded default under `root`: local bucket folder, local storage, SQLite, log + outbox."""
    env = {"GS_DATA_DIR": str(root)}
    config = GsConfig.from_env(env).with_(
        stage_settings=dict(TEST_SETTINGS), min_psnr_db=TEST_MIN_PSNR, warn_psnr_db=TEST_MIN_PSNR, media_wait_s=0.0
    )
    return config.with_(**changes) if changes else config


@dataclass
class AwsSandbox:
    endpoint: str
    bucket: str
    table: str
    topic_arn: str
    queue_url: str
    s3: Any
    sqs: Any
    dynamodb: Any

    def config(self, **changes: Any) -> GsConfig:
        config = GsConfig.from_env(
            {
                "GS_BUCKET": f"s3://{self.bucket}",
                "GS_JOB_TABLE": f"dynamodb://{self.table}",
                "GS_NOTIFIER": self.topic_arn,
                "GS_AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": "us-east-1",
            }
        ).with_(
            stage_settings=dict(TEST_SETTINGS), min_psnr_db=TEST_MIN_PSNR, warn_psnr_db=TEST_MIN_PSNR, media_wait_s=0.0
        )
        return config.with_(**changes) if changes else config

    def put(self, key: str, body: bytes | str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)

    def notices(self) -> list[dict[str, Any]]:
        """SNS messages delivered to the SQS subscription so far (and removed from the queue)."""
        found = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = response.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                envelope = json.loads(message["Body"])
                found.append(
                    {
                        "subject": envelope.get("Subject"),
                        "text": envelope["Message"],
                        "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    }
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def record(self, uuid: str) -> dict[str, Any] | None:
        return self.dynamodb.Table(self.table).get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")


def job_json(uuid: str, bucket: str, media_key: str, **options: Any) -> dict[str, Any]:
    from gs_dagster.submit import job_document

    return job_document(uuid=uuid, bucket_name=bucket, media_key=media_key, options={**TEST_OPTIONS, **options})


def runner_for(config: GsConfig, instance: dg.DagsterInstance) -> EmbeddedRunner:
    return EmbeddedRunner(build_definitions(config), instance)


def events_of(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list[Any]:
    return [r.event_log_entry for r in instance.get_records_for_run(run_id, of_type=event_type).records]


def materialized(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    entries = events_of(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
    return [e.dagster_event.asset_key.to_user_string() for e in entries]


def launches(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The stage-process command lines a run launched (from its log)."""
    return [e.user_message for e in instance.all_logs(run_id) if e.user_message.startswith("launching: ")]


#: Run-status sensor of each run status, and the event it reacts to.
STATUS_SENSORS = {
    "RUNNING": ("job_started", dg.DagsterEventType.RUN_START),
    "COMPLETE": ("job_succeeded", dg.DagsterEventType.RUN_SUCCESS),
    "FAILED": ("job_failed", dg.DagsterEventType.RUN_FAILURE),
    "CANCELED": ("job_canceled", dg.DagsterEventType.RUN_CANCELED),
}


def status_sensor_tick(runner: EmbeddedRunner, run_id: str, status: str) -> None:
    """One tick of the run-status sensor for `status` over the run's event (as the daemon evaluates it:
    with the run as stored now), whatever the other sensors did or did not do before."""
    name, event_type = STATUS_SENSORS[status]
    records = runner.instance.get_records_for_run(run_id, of_type=event_type).records
    assert records, f"run {run_id} has no {event_type}"
    context = dg.build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=records[-1].event_log_entry.dagster_event,
        dagster_instance=runner.instance,
        dagster_run=runner.instance.get_run_by_id(run_id),
        resources=runner.resources,
    )
    runner.defs.resolve_sensor_def(name)(context)


def sweep_tick(runner: EmbeddedRunner, cursor: str | None, *, later_s: float = 0.0) -> tuple[str, str]:
    """One tick of the job_record_sweep sensor's work, `later_s` seconds from now (past its grace period
    for runs that just ended); returns its new cursor and what it said."""
    from datetime import UTC, datetime, timedelta

    from gs_dagster.sensors.run_status import sweep

    table = runner.resources["job_table"].table()
    now = datetime.now(UTC) + timedelta(seconds=later_s)
    return sweep(runner.instance, table, runner.resources["notifier"], logging.getLogger("sweep"), cursor, now)


def execute_without_sensors(
    runner: EmbeddedRunner, uuid: str, *, selection: list[str] | None = None, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    """A run of the job in process whose run-status sensors have not ticked yet (tags as given: the
    partition tag unless `tags` names a partition range, as an asset backfill does)."""
    job = runner.defs.resolve_job_def("reconstruct")
    ranged = tags and "dagster/asset_partition_range_start" in tags
    return job.execute_in_process(
        instance=runner.instance,
        partition_key=None if ranged else uuid,
        tags=tags,
        asset_selection=[dg.AssetKey(s) for s in selection] if selection else None,
        raise_on_error=False,
    )
