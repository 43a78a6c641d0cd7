"""Fixtures of the Dagster tests: a small synthetic capture, a temporary Dagster instance, and an AWS setup
on the moto server (bucket, DynamoDB table name, SNS topic with an SQS subscription to read notices back),
and a bucket to drop job files into, each test run against the local folder and S3 on the moto server."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
from gs_testkit import AwsSandbox
from intake_drops import Drops

from gs_dagster.sample import SampleSpec, write_sample


@pytest.fixture(scope="session")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 views of the synthetic scene at 240x180: SfM registers them all in seconds."""
    return write_sample(tmp_path_factory.mktemp("sample") / "orbit.zip", SampleSpec(views=16, width=240, height=180))


@pytest.fixture(scope="session")
def demo_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's own gallery (32 views of lamp-lit photographs), rendered once for the tests that use it: the
    render costs as much as the SfM that follows it on the CI machine."""
    from gs_dagster.demo import DEMO_SAMPLE

    return write_sample(tmp_path_factory.mktemp("demo-sample") / "gallery.zip", DEMO_SAMPLE)


@pytest.fixture()
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.local_temp(str(home)) as inst:
        yield inst


@pytest.fixture()
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded default under tmp_path/data, whatever the caller's environment says (for the CLI tests)."""
    for name in ("GS_BUCKET", "GS_STORAGE_ROOT", "GS_JOB_TABLE", "GS_NOTIFIER", "GS_OUTBOX", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture()
def aws(moto_env: str) -> AwsSandbox:
    """A fresh bucket, table name, topic and queue on the shared moto server."""
    suffix = uuidlib.uuid4().hex[:10]
    kwargs = {"endpoint_url": moto_env, "region_name": "us-east-1"}
    s3, sns, sqs = boto3.client("s3", **kwargs), boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
    bucket = f"gs-test-{suffix}"
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"gs-jobs-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"gs-notices-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return AwsSandbox(
        endpoint=moto_env,
        bucket=bucket,
        table=f"gs-jobs-{suffix}",
        topic_arn=topic,
        queue_url=queue_url,
        s3=s3,
        sqs=sqs,
        dynamodb=boto3.resource("dynamodb", **kwargs),
    )


@pytest.fixture(params=["local", "moto"])
def drops(request: pytest.FixtureRequest, tmp_path: Path, instance: dg.DagsterInstance) -> Drops:
    """The local bucket folder, then S3 on the moto server (a test module may define its own `drops`)."""
    if request.param == "local":
        return Drops.local(tmp_path, instance)
    return Drops.moto(request.getfixturevalue("aws"), instance)
