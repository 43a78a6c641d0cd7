"""A full run in AWS mode with the SageMaker launcher: moto (real HTTP) for S3 and DynamoDB, the harness
playing SageMaker, the project's own assets, intake sensor and run-status sensors.

upload -> intake tick -> reconstruction run -> CreateTrainingJob (checked field by field) -> the
container entrypoint runs the real stages in an /opt/ml layout -> materializations carry what the
stages reported plus the job's billing -> job record. A failing stage's FailureReason reaches the step
error and the job record. `test_full_run_in_the_built_image` plays the training job with the image
itself (infra/image/build_local.sh; GS_TEST_IMAGE names it) in place of this checkout's entrypoint.
"""

import importlib
import json
import re
import time
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from gs_dagster.config import GsConfig
from gs_dagster.embedded import EmbeddedRunner
from gs_dagster.resources.job_table import open_job_table
from gs_dagster.resources.sagemaker import SageMakerLauncher
from gs_dagster.resources.sagemaker_request import ENV_VALUE_MAX
from gs_dagster.sample import SampleSpec, write_sample
from gs_dagster.submit import job_document
from gs_stages.stage import STAGE_ORDER, STAGES

from .conftest import BUCKET, IMAGE, REGION, ROLE
from .image_run import ImageRun, built_image

STORAGE = f"s3://{BUCKET}/gs-storage"


def _landed() -> list[str]:
    """The stages whose code has landed, in order (others are still being written)."""
    stages = []
    for stage in STAGE_ORDER:
        try:
            importlib.import_module(STAGES[stage].entry.split(":")[0])
        except ImportError:
            break
        stages.append(stage)
    return stages


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("sample") / "orbit.zip", SampleSpec(views=16, width=240, height=180))


@pytest.fixture()
def container_image(request) -> ImageRun | None:
    """None: the harness runs this checkout's entrypoint; an ImageRun (indirect parameter): the built image."""
    image: ImageRun | None = getattr(request, "param", None)
    if image is not None and (why := image.available()):
        pytest.skip(why)
    return image


@pytest.fixture()
def deployment(aws, s3, make_harness, tmp_path, monkeypatch, container_image):
    """GsConfig in AWS mode on moto, with the SageMaker launcher in place of the local one."""
    from gs_dagster.definitions import ASSETS, reconstruct_job
    from gs_dagster.sensors.intake_sensor import build_intake_sensor
    from gs_dagster.sensors.run_status import RUN_STATUS_SENSORS

    config = GsConfig.from_env(
        {
            "GS_BUCKET": f"s3://{BUCKET}",
            "GS_JOB_TABLE": f"dynamodb://gs-jobs-{uuidlib.uuid4().hex[:8]}",
            "GS_AWS_ENDPOINT_URL": aws["AWS_ENDPOINT_URL"],
            "AWS_REGION": REGION,
        }
    ).with_(stage_settings={"max_image_side": 240}, min_psnr_db=5.0, media_wait_s=0.0)
    assert config.storage_root == STORAGE  # the Terraform storage_prefix default
    harness = make_harness(image=container_image)
    monkeypatch.setattr(SageMakerLauncher, "sagemaker_client", lambda self: harness)
    launcher = SageMakerLauncher.from_env(
        {
            "GS_SAGEMAKER_IMAGE_URI": IMAGE,
            "GS_SAGEMAKER_ROLE_ARN": ROLE,
            "GS_SAGEMAKER_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/k",
            "AWS_REGION": REGION,
        },
        settings=config.stage_settings,
        poll_initial_s=0.2,
        poll_max_s=1.0,
        message_interval_s=0.5,
    )
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[reconstruct_job],
        sensors=[build_intake_sensor(reconstruct_job, config.sensor_interval_s), *RUN_STATUS_SENSORS],
        resources={**config.resources(), "launcher": launcher},
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        yield config, EmbeddedRunner(defs, instance), harness


def _submit(s3, sample_zip: Path, uuid: str, **options) -> None:
    s3.put_object(Bucket=BUCKET, Key="media-input/orbit.zip", Body=sample_zip.read_bytes())
    document = job_document(uuid=uuid, bucket_name=BUCKET, media_key="orbit.zip", options=options)
    s3.put_object(Bucket=BUCKET, Key=f"workflow-input/{uuid}.json", Body=json.dumps(document).encode())


def _record(config: GsConfig, uuid: str):
    return open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region).get(uuid)


def test_full_run_in_aws_mode(deployment, s3, sample_zip, sagemaker_backend):
    _full_run(deployment, s3, sample_zip, sagemaker_backend)


BUILT_IMAGE = built_image()
STAGE_START = re.compile(r"^(\S+ \S+) INFO gs_stages: stage (\w+): start", re.MULTILINE)


@pytest.mark.slow
@pytest.mark.parametrize("container_image", [BUILT_IMAGE], indirect=True, ids=["image"])
def test_full_run_in_the_built_image(deployment, s3, sample_zip, sagemaker_backend):
    """The same run with the image as the training container: the stages run in it on the CPU, as its
    unprivileged user, and reach the bucket, Dagster and the job record through the loopback."""
    started = time.time()
    name = _full_run(deployment, s3, sample_zip, sagemaker_backend)
    _, _, harness = deployment
    job = harness.jobs[name]
    log = harness.container_log(name)
    assert "running the stages as gs" in log, log[-2000:]
    assert job.exit_codes == [0]
    owners = {p.stat().st_uid for p in (job.opt_ml / "gs-work").rglob("*") if not p.is_symlink()}
    assert owners == {10001}, owners  # every file the stages wrote is the image user's, none root's
    first = STAGE_START.search(log)
    assert first and first.group(2) == "frames", log[-2000:]
    to_first_stage = (
        datetime.strptime(first.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp() - job.started_at[0]
    )
    print(f"container start to first stage: {to_first_stage:.1f} s; whole test {time.time() - started:.0f} s")
    assert 0 < to_first_stage < 120


def _full_run(deployment, s3, sample_zip, sagemaker_backend) -> str:
    """Upload, intake tick, one training job for the chain, materializations, record; returns the job name."""
    config, runner, harness = deployment
    stages = _landed()
    assert stages[:2] == ["frames", "masks"], stages
    uuid = f"sm-{uuidlib.uuid4().hex[:12]}"
    _submit(s3, sample_zip, uuid, **{"sfm.matchingMethod": "exhaustive", "training.maxSteps": 40})
    tick = runner.intake_tick()
    assert tick.added_partitions == [uuid]

    result = runner.run_job(uuid, selection=stages, tags=tick.run_requests[0].tags)
    assert result.success, _record(config, uuid)

    # One training job for the whole chain; the request, field by field.
    (request,) = harness.requests
    name = request["TrainingJobName"]
    assert len(name) <= 63 and name.startswith(f"gs-{uuid}-") and name.endswith("-a0")
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE and request["RoleArn"] == ROLE
    assert request["ResourceConfig"]["InstanceType"] == "ml.g5.4xlarge"
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["media"]
    media = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert media == f"s3://{BUCKET}/media-input/orbit.zip"
    assert request["OutputDataConfig"]["S3OutputPath"] == f"{STORAGE}/_sagemaker/"
    assert request["HyperParameters"]["stages"] == ",".join(stages)
    assert json.loads(request["HyperParameters"]["settings"]) == {"max_image_side": 240}
    assert all(len(v) <= ENV_VALUE_MAX for v in request["Environment"].values())
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["dagster/run-id"] == result.run_id and tags["gs/job-uuid"] == uuid
    assert (
        sagemaker_backend.describe_training_job(TrainingJobName=name)["HyperParameters"] == request["HyperParameters"]
    )

    # Each stage materialized with the metadata its stage reported; the last carries the job's billing.
    metadata = {}
    for stage in stages:
        (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == stage]
        metadata[stage] = {k: v.value for k, v in event.materialization.metadata.items()}
        assert metadata[stage]["sagemaker/job_name"] == name
        assert metadata[stage]["location"] == f"{STORAGE}/{stage}/{uuid}"
    assert metadata["frames"]["frame_count"] == 16
    assert metadata[stages[-1]]["sagemaker/billable_seconds"] >= 1
    assert metadata[stages[-1]]["sagemaker/cost_usd_estimate"] > 0
    if "sparse_model" in stages:
        assert metadata["sparse_model"]["registered_images"] == 16

    # Progress came back through the S3 message reader as it does locally: SfM's phases, and training's
    # first and last step (the default interval sends those two for a run this short).
    observed = [e.asset_observation_data.asset_observation.metadata for e in result.get_asset_observation_events()]
    updates = [tuple(m[f"progress/{k}"].value for k in ("stage", "phase", "step")) for m in observed]
    assert ("sparse_model", "mapping", 16) in updates, updates
    if "splat" in stages:
        assert ("splat", "training", 0) in updates and ("splat", "training", 40) in updates, updates

    record = _record(config, uuid)
    assert record.run_id == result.run_id and record.metrics.get("frame_count") == 16
    for stage in stages:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"gs-storage/{stage}/{uuid}/")
        assert any(o["Key"].endswith("/metrics.json") for o in listed["Contents"])
    return name


@pytest.mark.parametrize(
    "container_image",
    [None, pytest.param(BUILT_IMAGE, marks=pytest.mark.slow, id="image")],
    indirect=True,
)
def test_failed_job_surfaces_its_failure_reason_in_dagster_and_the_job_record(
    deployment, s3, sample_zip, container_image
):
    """In the image too: the entrypoint, running as its own user, writes /opt/ml/output/failure."""
    config, runner, harness = deployment
    uuid = f"sm-{uuidlib.uuid4().hex[:12]}"
    _submit(s3, sample_zip, uuid, **{"segmentation.removeBackground": True})
    tick = runner.intake_tick()
    result = runner.run_job(uuid, selection=["frames", "masks"], tags=tick.run_requests[0].tags)
    assert not result.success
    (name,) = harness.jobs
    reason = harness.describe_training_job(TrainingJobName=name)["FailureReason"]
    assert reason.startswith("masks: background removal (u2net) needs the weights file u2net.onnx")
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "stage masks failed" in message and reason.splitlines()[0] in message
    frames = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "frames"]
    assert len(frames) == 1  # the stage before the failure still materialized
    record = _record(config, uuid)
    assert record.status == "FAILED" and reason.splitlines()[0] in record.error
    if container_image is not None:
        assert harness.jobs[name].exit_codes == [2]  # a problem with the input, not a crash
        assert (harness.jobs[name].opt_ml / "output" / "failure").stat().st_uid == 10001


def _objects(s3, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_a_failed_rerun_leaves_the_stored_outputs_until_a_job_succeeds(deployment, s3, sample_zip):
    """Nothing stored is touched before the training job ends: a re-run whose splat fails its blocking PSNR
    check, and one whose job fails outright, leave splat/ byte for byte and its latest materialization."""
    from gs_dagster.definitions import ASSETS, reconstruct_job

    config, runner, _ = deployment
    uuid = f"sm-{uuidlib.uuid4().hex[:12]}"
    _submit(s3, sample_zip, uuid, **{"sfm.matchingMethod": "exhaustive", "training.maxSteps": 20})
    tick = runner.intake_tick()
    assert runner.run_job(uuid, selection=list(STAGE_ORDER), tags=tick.run_requests[0].tags).success
    stored = _objects(s3, f"gs-storage/splat/{uuid}/")
    assert f"gs-storage/splat/{uuid}/splat.ply" in stored

    def latest() -> int:
        filter_ = dg.AssetRecordsFilter(asset_key=dg.AssetKey("splat"), asset_partitions=[uuid])
        return runner.instance.fetch_materializations(filter_, limit=1).records[0].storage_id

    good = latest()
    strict = EmbeddedRunner(
        dg.Definitions(
            assets=ASSETS,
            jobs=[reconstruct_job],
            sensors=list(runner.defs.sensors or []),
            resources={**config.with_(min_psnr_db=99.0).resources(), "launcher": runner.resources["launcher"]},
        ),
        runner.instance,
    )
    result = strict.run_job(uuid, selection=["splat", "spz"])
    assert not result.success and result.get_asset_materialization_events() == []
    observations = [e for e in result.get_asset_observation_events() if e.asset_key.to_user_string() == "splat"]
    metadata = [e.event_specific_data.asset_observation.metadata for e in observations]
    (attempt,) = [m for m in metadata if "attempt" in m]  # the others are training progress
    assert attempt["attempt"].value.startswith("failed, not kept: heldout_psnr")
    assert _objects(s3, f"gs-storage/splat/{uuid}/") == stored and latest() == good
    assert _record(config, uuid).status == "FAILED"
    assert f"The last good splat output is kept: {STORAGE}/splat/{uuid}" in _record(config, uuid).error

    # A job that fails outright (a bad engine setting value reaches the stage): nothing stored changes either.
    crash = {"ops": {"reconstruction": {"config": {"settings": {"image_downscale": "not a number"}}}}}
    result = runner.run_job(uuid, selection=["splat"], run_config=crash)
    assert not result.success
    assert _objects(s3, f"gs-storage/splat/{uuid}/") == stored and latest() == good
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="gs-storage/.staging/").get("Contents")
