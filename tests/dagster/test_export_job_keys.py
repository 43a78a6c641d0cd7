"""The job's own export switches, `postProcessing.enableVideoExport` and `enableSog` (the newer AWS guidance's
keys, accepted in both forms): the spz stage writes or skips the fly-through .mp4 and the .sog as the job says,
its metrics name the job key that turned one off, and the delivery to the bucket (the local folder and S3 on
moto) holds exactly the files written. Intake of the keys: test_intake_guidance_form.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from gs_testkit import AwsSandbox

from gs_dagster.assets.delivery import deliver
from gs_dagster.resources.stage_folders import stage_folder
from gs_dagster.resources.storage import LocalStore, Store, open_store
from gs_stages.cli import run_stage
from tests.stages.jobs import make_spec
from tests.viewer.viewer_jobs import write_trained_splat

#: Small pictures: the fly-through renders on the CPU. The engine leaves both exports on ("sog" auto).
SETTINGS = {"flythrough_seconds": 1, "flythrough_fps": 2, "flythrough_long_side": 48, "thumbnail_long_side": 48}


@pytest.fixture(params=["local", "moto"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Store, Store, str]:
    """(stage storage, deployment bucket, how to list the bucket's delivered names)."""
    if request.param == "local":
        return LocalStore(tmp_path / "storage"), LocalStore(tmp_path / "bucket"), "local"
    aws: AwsSandbox = request.getfixturevalue("aws")
    storage = open_store(f"s3://{aws.bucket}/gs-storage", endpoint_url=aws.endpoint, region="us-east-1")
    return storage, open_store(f"s3://{aws.bucket}", endpoint_url=aws.endpoint, region="us-east-1"), "moto"


def _delivered_names(stores: tuple[Store, Store, str], tmp_path: Path, prefix: str, request) -> list[str]:
    if stores[2] == "local":
        return sorted(p.name for p in (tmp_path / "bucket" / prefix).iterdir())
    aws: AwsSandbox = request.getfixturevalue("aws")
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix + "/").get("Contents", [])
    return sorted(o["Key"].rsplit("/", 1)[1] for o in listed)


@pytest.mark.parametrize("video", [True, False])
def test_the_job_turns_the_flythrough_off_and_the_delivery_follows(stores, tmp_path, request, video: bool) -> None:
    spec = make_spec(**{"postProcessing.enableVideoExport": video, "postProcessing.enableSog": False})
    out = tmp_path / "spz"
    metrics = run_stage("spz", spec, {"splat": write_trained_splat(tmp_path / "splat", 96, 72)}, out, SETTINGS)

    assert (out / "stage-test.mp4").is_file() is video
    assert (out / "stage-test.png").is_file(), "the thumbnail is the library's picture: always written"
    if video:
        assert metrics["flythrough_frames"] == 2
    else:
        assert metrics["flythrough"] == "off (job: postProcessing.enableVideoExport false)"
    assert metrics["sog"] == "off (job: postProcessing.enableSog false)" and not list(out.glob("*.sog"))

    storage, bucket, _ = stores
    storage.upload_dir(out, f"spz/{spec.uuid}")
    delivered = deliver(stage_folder(storage, "spz", spec.uuid), storage, bucket, spec)
    expected = {".ply", ".spz", ".png", "cameras"} | ({".mp4"} if video else set())
    assert set(delivered) == expected
    names = _delivered_names(stores, tmp_path, f"{spec.s3.output_prefix}/{spec.uuid}", request)
    wanted = ["cameras.json", "stage-test.ply", "stage-test.png", "stage-test.spz"]
    assert names == sorted(wanted + (["stage-test.mp4"] if video else []))


def test_the_newer_form_names_its_own_key_in_the_metrics(tmp_path: Path) -> None:
    """A job in the newer form reads the same key at the same path (postProcessing is not renamed there)."""
    from gs_stages.jobspec import parse_job

    spec = parse_job(
        {
            "uuid": "stage-test",
            "s3": {"bucketName": "test-bucket", "inputKey": "media.zip"},
            "reconstruction": {"enable": "true"},
            "postProcessing": {"enableVideoExport": "false", "enableSog": "false", "sogCoords": "rhzu"},
        }
    )
    splat = write_trained_splat(tmp_path / "splat", 96, 72)
    metrics = run_stage("spz", spec, {"splat": splat}, tmp_path / "spz", {**SETTINGS, "thumbnail": "false"})
    assert metrics["flythrough"] == "off (job: postProcessing.enableVideoExport false)"
    assert metrics["thumbnail"] == "off"
    assert not list((tmp_path / "spz").glob("*.mp4")) and not list((tmp_path / "spz").glob("*.sog"))
