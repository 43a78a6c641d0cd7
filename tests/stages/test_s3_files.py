"""The stages' S3 downloads (model weights, vocabulary trees: gs_stages/s3_files.py) go to the configured
endpoint and region, GS_AWS_ENDPOINT_URL and AWS_REGION as the deployment sets them (boto3 alone reads
neither), tried against the moto server on its own port in a region other than the default."""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import pytest

from gs_stages import s3_files
from gs_stages.masks.weights import WEIGHT_FILES, WEIGHTS_SETTING, resolve_weights
from gs_stages.stage import StageError

REGION = "eu-west-2"


@pytest.fixture()
def configured(moto_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Only the project's variables name the endpoint and region (as in a stage process the launcher starts)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GS_AWS_ENDPOINT_URL", moto_env)
    monkeypatch.setenv("AWS_REGION", REGION)
    s3 = boto3.client("s3", endpoint_url=moto_env, region_name=REGION)
    if "gs-weights-eu" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket="gs-weights-eu", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="gs-weights-eu", Key=f"models/u2net/{WEIGHT_FILES['u2net']}", Body=b"onnx weights")
    s3.put_object(Bucket="gs-weights-eu", Key="models/lpips/alex.pth", Body=b"lpips")
    return moto_env


def test_weights_download_from_the_configured_endpoint_and_region(configured: str, tmp_path: Path) -> None:
    settings = {WEIGHTS_SETTING: "s3://gs-weights-eu/models/u2net"}
    path, source = resolve_weights("u2net", "background removal (u2net)", settings, tmp_path, logging.getLogger())
    assert path.read_bytes() == b"onnx weights" and source == "s3://gs-weights-eu/models/u2net/u2net.onnx"
    assert [p.name for p in s3_files.download_prefix("s3://gs-weights-eu/models/lpips/", tmp_path)] == ["alex.pth"]
    client = s3_files.client()
    assert client.meta.endpoint_url == configured and client.meta.region_name == REGION


def test_a_missing_weights_file_on_the_configured_endpoint_is_named(configured: str, tmp_path: Path) -> None:
    settings = {WEIGHTS_SETTING: "s3://gs-weights-eu/models/nothing-here"}
    with pytest.raises(StageError) as error:
        resolve_weights("u2net", "background removal (u2net)", settings, tmp_path, logging.getLogger())
    assert "s3://gs-weights-eu/models/nothing-here/u2net.onnx" in str(error.value)
