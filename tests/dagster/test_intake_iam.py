"""Intake in AWS mode as the Terraform's Dagster role, with IAM enforced by the moto server: the role's S3
statements (infra/terraform/iam_dagster.tf, rendered by iam_policies.py) are attached to an IAM user whose keys
the intake uses. The job table and notices stay local here: only S3 is under test.

moto checks actions and resources but not the `s3:prefix` condition, and answers a HEAD it allows with 404
for a missing key. Real S3 answers 403 instead when s3:ListBucket is granted only with that condition (a
HEAD carries no prefix); the second test produces that 403 with a policy that grants the listing and not the
read, and shows intake settling it by listing the key."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from gs_testkit import AwsSandbox, job_json, local_config
from iam_policies import s3_policy
from intake_drops import Drops

from gs_dagster.definitions import build_definitions
from gs_dagster.embedded import EmbeddedRunner
from gs_dagster.resources import storage
from gs_stages.masks.weights import WEIGHTS_SETTING, resolve_weights
from gs_stages.stage import StageError

ZIP = b"PK\x03\x04" + bytes(60)


def _user(aws: AwsSandbox, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam = boto3.client("iam", endpoint_url=aws.endpoint, region_name="us-east-1")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture()
def enforced(aws: AwsSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Returns enforce(role_policy) -> (uploader s3 client); from then on every request is checked by IAM and
    the intake's clients sign as the role."""
    from moto import settings

    suffix = aws.bucket.rsplit("-", 1)[-1]
    uploader = _user(
        aws,
        f"uploader-{suffix}",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
    )

    def enforce(policy: dict[str, Any]) -> Any:
        role = _user(aws, f"dagster-{suffix}", policy)
        storage.s3_client.cache_clear()  # clients are cached per endpoint with the keys they were built with
        storage._cached_store.cache_clear()
        for name, value in role.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)  # an IAM user's keys carry no session token
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it holds the keys it first read
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        return boto3.client(
            "s3",
            endpoint_url=aws.endpoint,
            region_name="us-east-1",
            aws_access_key_id=uploader["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=uploader["AWS_SECRET_ACCESS_KEY"],
        )

    yield enforce
    boto3.DEFAULT_SESSION = None
    storage.s3_client.cache_clear()
    storage._cached_store.cache_clear()


def _drops(aws: AwsSandbox, tmp_path: Path, instance: dg.DagsterInstance, **changes: Any) -> Drops:
    local = local_config(tmp_path)  # SQLite job table, outbox notices
    config = aws.config(job_table=local.job_table, notifier="log", outbox_dir=local.outbox_dir, **changes)
    return Drops(config, EmbeddedRunner(build_definitions(config), instance))


def _put(s3: Any, aws: AwsSandbox, key: str, body: bytes | str) -> None:
    s3.put_object(Bucket=aws.bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)


def test_intake_as_the_terraform_role_waits_for_media_then_runs(
    aws: AwsSandbox, enforced: Any, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    grants = {"media_prefixes": ("media-input",), "output_prefixes": ("workflow-output",)}
    drops = _drops(aws, tmp_path, instance, media_wait_s=300.0, **grants)
    uploader = enforced(s3_policy("dagster", aws.bucket))
    _put(uploader, aws, "private/secret.zip", ZIP)
    _put(uploader, aws, "workflow-input/early.json", json.dumps(job_json("early", aws.bucket, "m.zip")))
    hidden = job_json("hidden", aws.bucket, "secret.zip", **{"s3.inputPrefix": "private"})
    _put(uploader, aws, "workflow-input/hidden.json", json.dumps(hidden))

    role = boto3.client("s3", endpoint_url=aws.endpoint, region_name="us-east-1")  # the role's keys (env)
    with pytest.raises(role.exceptions.ClientError, match="AccessDenied"):
        role.get_object(Bucket=aws.bucket, Key="private/secret.zip")  # IAM is enforced

    first = drops.tick()
    assert first.run_requests == [] and drops.retried() == {}
    records = drops.records()
    assert "early" not in records  # waits for its media, no error
    assert records["hidden"].status == "FAILED" and "s3.inputPrefix: 'private' is outside" in records["hidden"].error

    _put(uploader, aws, "media-input/m.zip", ZIP)
    assert [r.run_key for r in drops.tick().run_requests] == ["early"]
    assert drops.records()["early"].status == "SUBMITTED"


def test_a_403_for_media_not_yet_uploaded_is_waited_out_and_a_403_for_present_media_is_named(
    aws: AwsSandbox, enforced: Any, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    policy = s3_policy("dagster", aws.bucket)
    for statement in policy["Statement"]:  # no read of media: S3 (and moto) answer its HEAD with 403
        if statement["Sid"] == "ReadUploads":
            statement["Resource"] = [r for r in statement["Resource"] if "/media-input/" not in r]
    drops = _drops(aws, tmp_path, instance, media_wait_s=300.0)
    uploader = enforced(policy)
    _put(uploader, aws, "workflow-input/late.json", json.dumps(job_json("late", aws.bucket, "m.zip")))

    for _ in range(3):  # a missing key: HEAD 403, the listing under the key is empty -> wait, no error
        assert drops.tick().run_requests == [] and drops.retried() == {} and "late" not in drops.records()

    _put(uploader, aws, "media-input/m.zip", ZIP)
    for _ in range(3):  # max_attempts: there but unreadable is an error, retried, then refused naming it
        drops.tick()
    record = drops.records()["late"]
    assert record.status == "FAILED" and record.failed_at == "intake"
    assert f"s3://{aws.bucket}/media-input/m.zip exists but reading it was refused (403)" in record.error
    assert "s3:GetObject" in record.error


def test_a_stage_download_refused_with_403_for_a_missing_file_says_missing(
    aws: AwsSandbox, enforced: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stages' downloads (gs_stages/s3_files.py) settle a 403 the same way: a weights file that is not there
    is reported missing (with where to put it), not as a permission problem."""
    policy = s3_policy("sagemaker", aws.bucket)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "ReadModelWeights"]  # HEAD -> 403
    enforced(policy)
    monkeypatch.setenv("GS_AWS_ENDPOINT_URL", aws.endpoint)  # as a stage process started by the launcher has it
    settings = {WEIGHTS_SETTING: f"s3://{aws.bucket}/models/u2net"}
    with pytest.raises(StageError) as error:
        resolve_weights("u2net", "background removal (u2net)", settings, tmp_path, logging.getLogger())
    assert f"s3://{aws.bucket}/models/u2net/u2net.onnx" in str(error.value)
    assert "cannot download" not in str(error.value)  # the message for a missing file, not a refused one
