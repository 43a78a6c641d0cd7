"""Clients for the shared moto server (tests/conftest.py: real HTTP on a loopback port) and the SageMaker
harness on top of it."""

from __future__ import annotations

import contextlib
import json
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from gs_stages.jobspec import JobSpec, parse_job

from .sagemaker_harness import FakeSageMaker

REGION = "us-east-1"
BUCKET = "gs-test-bucket"
ROOT_PREFIX = "gs-data"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/gs-dagster-trainer:0.1.0"
ROLE = "arn:aws:iam::123456789012:role/gs-dagster-sagemaker"


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """What a process needs to talk to the moto server (the container gets it too)."""
    return {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


@pytest.fixture()
def aws(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    return aws_env


@pytest.fixture()
def s3(aws: dict[str, str]) -> Any:
    client = boto3.client("s3", region_name=REGION, endpoint_url=aws["AWS_ENDPOINT_URL"])
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture()
def sagemaker_backend(aws: dict[str, str]) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=aws["AWS_ENDPOINT_URL"])


@dataclass
class Job:
    spec: JobSpec
    frames: int

    @property
    def uuid(self) -> str:
        return self.spec.uuid


def make_spec(uuid: str, **sections: Any) -> JobSpec:
    document: dict[str, Any] = {
        "uuid": uuid,
        "instanceType": "ml.g5.4xlarge",
        "s3": {"bucketName": BUCKET, "inputPrefix": "media-input", "inputKey": f"{uuid}.mp4"},
    }
    document.update(sections)
    return parse_job(json.dumps(document))


@pytest.fixture()
def job(s3: Any) -> Job:
    """A job whose frames stage is already in S3 (three images), so `masks` can run on it."""
    uuid = f"job-{uuidlib.uuid4().hex[:12]}"
    spec = make_spec(uuid)
    prefix = f"{ROOT_PREFIX}/frames/{uuid}"
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/images/{index:06d}.jpg", Body=b"\xff\xd8 not decoded by masks")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/metrics.json", Body=json.dumps({"frame_count": 3}).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{spec.s3.media_key}", Body=b"not a video")
    return Job(spec, 3)


@pytest.fixture()
def make_harness(sagemaker_backend: Any, s3: Any, aws: dict[str, str], tmp_path: Path):
    made: list[FakeSageMaker] = []

    def make(**kwargs: Any) -> FakeSageMaker:
        made.append(FakeSageMaker(sagemaker_backend, s3, tmp_path / "sagemaker", dict(aws), **kwargs))
        return made[-1]

    yield make
    for harness in made:
        harness.kill_containers()
