"""Keys a job names are checked before any work: `s3.outputPrefix` of `../../..`, 300 or 1,200 characters, or
outside the prefixes the deployment's roles grant (GS_MEDIA_PREFIXES / GS_OUTPUT_PREFIXES, which the Terraform
outputs) is refused by `gs-dagster submit` (exit 2, nothing uploaded) and at intake (FAILED, notice, no run);
a delivery that fails anyway names the file, bucket, key, S3's error code and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import dagster as dg
import pytest
from gs_testkit import AwsSandbox, job_json
from intake_drops import Drops

from gs_dagster import cli
from gs_dagster.assets.delivery import deliver
from gs_dagster.resources.launcher import StageFailure
from gs_dagster.resources.stage_folders import StageFolder, stage_folder
from gs_dagster.resources.storage import LocalStore, S3Store
from gs_stages.jobspec import parse_job

BAD_OUTPUT_PREFIXES = {
    "../../..": "'..' folder",
    "o" * 300: "folder name of 300 bytes",
    "out/" * 300: "at most 922 bytes",
    "somewhere-else": "outside what this deployment's roles may use: 'workflow-output'",
}
GRANTS = {"GS_MEDIA_PREFIXES": "media-input", "GS_OUTPUT_PREFIXES": "workflow-output"}


@pytest.fixture()
def granted_env(embedded_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in GRANTS.items():
        monkeypatch.setenv(name, value)
    return embedded_env


@pytest.mark.parametrize("prefix", list(BAD_OUTPUT_PREFIXES))
def test_submit_refuses_an_output_prefix_it_could_never_deliver_to(
    granted_env: Path, sample_zip: Path, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["submit", str(sample_zip), "--set", f"s3.outputPrefix={prefix}"]) == 2
    err = capsys.readouterr().err
    assert "s3.outputPrefix" in err and BAD_OUTPUT_PREFIXES[prefix] in err
    assert not (granted_env / "bucket").exists()  # nothing uploaded


def test_submit_refuses_a_media_prefix_outside_the_grants(
    granted_env: Path, sample_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["submit", str(sample_zip), "--set", "s3.inputPrefix=private"]) == 2
    assert "s3.inputPrefix: 'private' is outside" in capsys.readouterr().err
    assert cli.main(["submit", str(sample_zip), "--set", "s3.outputPrefix=workflow-output/team-a"]) == 0  # under it


@pytest.mark.parametrize("where", ["local", "moto"])
def test_intake_refuses_bad_output_prefixes_before_any_run(
    where: str, tmp_path: Path, instance: dg.DagsterInstance, request: pytest.FixtureRequest
) -> None:
    grants = {"media_prefixes": ("media-input",), "output_prefixes": ("workflow-output",)}
    if where == "local":
        drops = Drops.local(tmp_path, instance, **grants)
    else:
        drops = Drops.moto(request.getfixturevalue("aws"), instance, **grants)
    drops.put("media-input/m.zip", b"PK\x03\x04" + bytes(60))
    names = {}
    for number, prefix in enumerate(BAD_OUTPUT_PREFIXES):
        names[f"bad-{number}"] = prefix
        document = job_json(f"bad-{number}", drops.bucket_name, "m.zip", **{"s3.outputPrefix": prefix})
        drops.put(f"workflow-input/bad-{number}.json", json.dumps(document))
    drops.put("workflow-input/good.json", json.dumps(job_json("good", drops.bucket_name, "m.zip")))

    assert [r.run_key for r in drops.tick().run_requests] == ["good"]
    records = drops.records()
    for uuid, prefix in names.items():
        assert records[uuid].status == "FAILED" and records[uuid].failed_at == "intake"
        assert "s3.outputPrefix" in records[uuid].error and BAD_OUTPUT_PREFIXES[prefix] in records[uuid].error
    assert sorted(n["uuid"] for n in drops.new_notices()) == sorted(names)


def _job(bucket: str, uuid: str = "deliver-1", **s3: str) -> object:
    return parse_job({"uuid": uuid, "s3": {"bucketName": bucket, "inputKey": "m.zip", **s3}})


def _splat_outputs(root: Path, uuid: str) -> tuple[LocalStore, StageFolder]:
    storage = LocalStore(root / "storage")
    for suffix in (".ply", ".spz"):
        storage.write_bytes(f"spz/{uuid}/{uuid}{suffix}", b"splat")
    return storage, stage_folder(storage, "spz", uuid)


def test_a_failed_delivery_to_s3_names_the_key_the_bucket_and_the_error(tmp_path: Path, aws: AwsSandbox) -> None:
    storage, folder = _splat_outputs(tmp_path, "deliver-1")
    missing = S3Store("s3://gs-no-such-bucket-here", endpoint_url=aws.endpoint, region="us-east-1")
    with pytest.raises(StageFailure) as failure:
        deliver(folder, storage, missing, _job("gs-no-such-bucket-here"))
    message = failure.value.message
    assert "delivering deliver-1.ply to s3://gs-no-such-bucket-here/workflow-output/deliver-1/deliver-1.ply" in message
    assert "NoSuchBucket" in message and "GS_BUCKET" in message and "re-materializing delivery" in message
    assert failure.value.stage == "delivery"

    bucket = S3Store(f"s3://{aws.bucket}", endpoint_url=aws.endpoint, region="us-east-1")
    delivered = deliver(folder, storage, bucket, _job(aws.bucket))
    assert delivered == {s: f"s3://{aws.bucket}/workflow-output/deliver-1/deliver-1{s}" for s in (".ply", ".spz")}
    body = boto3.client("s3", endpoint_url=aws.endpoint, region_name="us-east-1").get_object(
        Bucket=aws.bucket, Key="workflow-output/deliver-1/deliver-1.spz"
    )["Body"]
    assert body.read() == b"splat"


def test_a_failed_local_delivery_names_the_file_and_the_error(tmp_path: Path) -> None:
    storage, folder = _splat_outputs(tmp_path, "deliver-2")
    bucket = LocalStore(tmp_path / "bucket")
    bucket.write_bytes("results", b"a file where the output folder should be")
    with pytest.raises(StageFailure) as failure:
        deliver(folder, storage, bucket, _job("bucket", "deliver-2", outputPrefix="results"))
    message = failure.value.message
    assert f"delivering deliver-2.ply to {tmp_path}/bucket/results/deliver-2/deliver-2.ply failed" in message
    assert "NotADirectoryError" in message or "FileExistsError" in message
