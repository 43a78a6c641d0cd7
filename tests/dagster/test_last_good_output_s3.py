"""AWS mode on the moto server (real HTTP) with the local launcher: stage outputs in S3.

- a re-run whose splat fails its blocking check leaves gs-storage/splat/<uuid>/ byte for byte, the
  latest materialization is still the good one, and no staging keys are left;
- a job with training off delivers its sparse model to workflow-output/<uuid>/ (server-side copies).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path

import dagster as dg
from gs_testkit import AwsSandbox, job_json, launches, materialized, runner_for


def _objects(aws: AwsSandbox, prefix: str) -> dict[str, bytes]:
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: aws.s3.get_object(Bucket=aws.bucket, Key=o["Key"])["Body"].read() for o in listed}


def _submit(aws: AwsSandbox, sample_zip: Path, **options) -> str:
    uuid = f"s3-{uuidlib.uuid4().hex[:12]}"
    aws.put("media-input/orbit.zip", sample_zip.read_bytes())
    aws.put(f"workflow-input/{uuid}.json", json.dumps(job_json(uuid, aws.bucket, "orbit.zip", **options)))
    return uuid


def test_a_failed_rerun_leaves_the_splat_in_s3(aws: AwsSandbox, instance: dg.DagsterInstance, sample_zip: Path):
    config = aws.config()
    uuid = _submit(aws, sample_zip)
    (result,) = runner_for(config, instance).process()
    assert result.success
    stored = _objects(aws, f"gs-storage/splat/{uuid}/")
    assert f"gs-storage/splat/{uuid}/splat.ply" in stored

    def latest() -> int:
        filter_ = dg.AssetRecordsFilter(asset_key=dg.AssetKey("splat"), asset_partitions=[uuid])
        return instance.fetch_materializations(filter_, limit=1).records[0].storage_id

    good = latest()
    result = runner_for(config.with_(min_psnr_db=99.0), instance).run_job(uuid, selection=["splat", "spz"])
    assert not result.success and materialized(instance, result.run_id) == []
    assert _objects(aws, f"gs-storage/splat/{uuid}/") == stored and latest() == good
    assert _objects(aws, "gs-storage/.staging/") == {}
    record = aws.record(uuid)
    assert record["status"] == "FAILED" and "heldout_psnr" in record["error"]
    assert f"The last good splat output is kept: s3://{aws.bucket}/gs-storage/splat/{uuid}" in record["error"]


def test_training_off_delivers_the_sparse_model_to_s3(aws: AwsSandbox, instance: dg.DagsterInstance, sample_zip: Path):
    config = aws.config()
    uuid = _submit(aws, sample_zip, **{"training.enable": False})
    (result,) = runner_for(config, instance).process()
    assert result.success
    record = aws.record(uuid)
    base = f"s3://{aws.bucket}/workflow-output/{uuid}"
    assert record["status"] == "COMPLETE"
    assert record["outputs"] == {
        **{k: v for k, v in record["outputs"].items() if k not in (".ply", "sparse")},
        ".ply": f"{base}/{uuid}_points.ply",
        "sparse": f"{base}/sparse/0/",
    }
    delivered = _objects(aws, f"workflow-output/{uuid}/")
    model = [f"sparse/0/{name}" for name in ("cameras.bin", "images.bin", "points3D.bin", "points3D.txt")]
    for name in [*model, f"{uuid}_points.ply"]:
        assert delivered.get(f"workflow-output/{uuid}/{name}"), name
    (notice,) = aws.notices()
    assert notice["attributes"]["event"] == "COMPLETE" and f"{base}/sparse/0/" in notice["text"]


def test_delivery_alone_redelivers_from_the_s3_handle(aws: AwsSandbox, instance: dg.DagsterInstance, sample_zip: Path):
    """Re-materializing only `delivery` in AWS mode: its input is spz's StageFolder handle, which the storage
    IO manager keeps in S3 (gs-storage/.handles/spz/<uuid>.json: the folder's URI and manifest); the delivered
    objects come back from server-side copies of the stored spz, no stage process is launched."""
    config = aws.config()
    uuid = _submit(aws, sample_zip, **{"training.enable": False})
    (result,) = runner_for(config, instance).process()
    assert result.success
    handle = json.loads(_objects(aws, f"gs-storage/.handles/spz/{uuid}.json")[f"gs-storage/.handles/spz/{uuid}.json"])
    stored = _objects(aws, f"gs-storage/spz/{uuid}/")
    assert handle["uri"] == f"s3://{aws.bucket}/gs-storage/spz/{uuid}"
    assert {f"gs-storage/spz/{uuid}/{name}": size for name, size in handle["manifest"].items()} == {
        key: len(body) for key, body in stored.items()
    }
    first = _objects(aws, f"workflow-output/{uuid}/")
    for key in first:
        aws.s3.delete_object(Bucket=aws.bucket, Key=key)
    aws.notices()

    again = runner_for(config, instance).run_job(uuid, selection=["delivery"])

    assert again.success and materialized(instance, again.run_id) == ["delivery"]
    assert launches(instance, again.run_id) == []
    assert _objects(aws, f"workflow-output/{uuid}/") == first
    assert aws.record(uuid)["status"] == "COMPLETE"
    (notice,) = aws.notices()
    assert notice["attributes"]["event"] == "COMPLETE"
