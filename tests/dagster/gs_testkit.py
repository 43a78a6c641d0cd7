"""Helpers of the Dagster tests: test-sized job options, the embedded and AWS (moto) setups, event-log reading."""

from __future__ import annotations

import json
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
TEST_SETTINGS: dict[str, Any] = {"max_image_side": 240, "image_downscale": 2}
#: Low enough for a few dozen CPU training steps (both PSNR bars); the PSNR tests set their own.
TEST_MIN_PSNR = 5.0


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
