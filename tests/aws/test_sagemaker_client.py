"""PipesSageMakerClient and SageMakerLauncher against a moto server, with a harness playing SageMaker.

Every test runs the real container entrypoint (`python -m gs_stages.sagemaker_entry train`) in an
/opt/ml layout, with the Environment and HyperParameters of the request the client sent to moto; the
entrypoint reads its inputs from moto S3 and writes outputs and Pipes messages back there.
"""

import json
import re
from typing import Any

import dagster as dg
import pytest

from gs_dagster.resources.launcher import StageLocations
from gs_dagster.resources.sagemaker import SageMakerLauncher
from gs_dagster.resources.sagemaker_client import PipesSageMakerClient, SageMakerJobFailed
from gs_dagster.resources.sagemaker_request import ENV_VALUE_MAX, SageMakerSettings

from .conftest import BUCKET, IMAGE, REGION, ROLE, ROOT_PREFIX, Job, make_spec

FAST = {"message_interval": 0.5, "poll_initial": 0.2, "poll_max": 1.0}


def _settings(**changes: Any) -> SageMakerSettings:
    return SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}", **changes)


def _masks_asset(client: PipesSageMakerClient, spec, created: list[str] | None = None) -> dg.AssetsDefinition:
    @dg.asset(name="masks")
    def masks(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        invocation = client.run(
            context=context, spec=spec, stages=["masks"], on_job_created=None if created is None else created.append
        )
        return invocation.get_materialize_result()

    return masks


def _chunks(s3: Any, name: str) -> dict[int, list[dict[str, Any]]]:
    prefix = f"{ROOT_PREFIX}/_pipes/{name}/m/"
    chunks = {}
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        index = int(re.search(r"/(\d+)\.json$", obj["Key"]).group(1))
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
        chunks[index] = [json.loads(line) for line in body.splitlines() if line.strip()]
    return chunks


def _materializations(s3: Any, name: str) -> list[dict[str, Any]]:
    return [
        m for _, ms in sorted(_chunks(s3, name).items()) for m in ms if m["method"] == "report_asset_materialization"
    ]


def test_run_creates_the_job_runs_the_container_and_materializes(make_harness, s3, sagemaker_backend, job: Job):
    harness = make_harness()
    client = PipesSageMakerClient(_settings(), sagemaker_client=harness, s3_client=s3, **FAST)
    created: list[str] = []
    result = dg.materialize([_masks_asset(client, job.spec, created)])
    assert result.success

    # The request, field by field.
    (request,) = harness.requests
    name = request["TrainingJobName"]
    assert created == [name]
    assert len(name) <= 63 and name.startswith(f"gs-{job.uuid}-") and name.endswith("-a0")
    assert request["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    assert request["RoleArn"] == ROLE
    assert request["ResourceConfig"] == {"InstanceType": "ml.g5.4xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    assert channels == {"frames": f"s3://{BUCKET}/{ROOT_PREFIX}/frames/{job.uuid}/"}
    assert set(request["Environment"]) == {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"}
    assert all(len(v) <= ENV_VALUE_MAX for v in request["Environment"].values())
    hp = request["HyperParameters"]
    assert hp["stages"] == "masks" and hp["job_name"] == name and json.loads(hp["spec"])["uuid"] == job.uuid
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["dagster/run-id"] == result.run_id and tags["gs/job-uuid"] == job.uuid
    assert "CheckpointConfig" not in request and "EnableManagedSpotTraining" not in request

    # moto recorded the job as sent (real HTTP round trip).
    recorded = sagemaker_backend.describe_training_job(TrainingJobName=name)
    assert recorded["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert recorded["ResourceConfig"]["InstanceType"] == "ml.g5.4xlarge"
    assert recorded["HyperParameters"] == hp
    assert recorded["InputDataConfig"] == request["InputDataConfig"]

    # The materialization carries what the stage reported, plus the job's billing.
    (materialization,) = result.asset_materializations_for_node("masks")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["frames"] == job.frames and metadata["masks_enabled"] is False
    assert metadata["sagemaker/job_name"] == name
    assert metadata["sagemaker/billable_seconds"] >= 1
    assert metadata["sagemaker/cost_usd_estimate"] == pytest.approx(
        metadata["sagemaker/billable_seconds"] / 3600 * 2.03, abs=1e-4
    )

    # Outputs are in S3, the completion marker last; stdout travelled with the messages.
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{ROOT_PREFIX}/masks/{job.uuid}/")["Contents"]}
    base = f"{ROOT_PREFIX}/masks/{job.uuid}/"
    assert {base + "masks.json", base + "metrics.json", base + "_sagemaker_complete.json"} <= keys
    messages = [m for ms in _chunks(s3, name).values() for m in ms]
    assert any(m["method"] == "log_external_stream" for m in messages)
    assert harness.jobs[name].exit_codes == [0]


def test_failed_job_raises_with_its_failure_reason(make_harness, s3, job: Job):
    spec = make_spec(job.uuid, segmentation={"removeBackground": True})  # masks fails: no U^2-Net weights configured
    harness = make_harness()
    client = PipesSageMakerClient(_settings(), sagemaker_client=harness, s3_client=s3, **FAST)
    result = dg.materialize([_masks_asset(client, spec)], raise_on_error=False)
    assert not result.success
    (name,) = harness.jobs
    reason = harness.describe_training_job(TrainingJobName=name)["FailureReason"]
    assert reason.startswith("masks: background removal (u2net) needs the weights file u2net.onnx")
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    text = error.to_string()
    assert "SageMakerJobFailed" in text and reason.splitlines()[0] in text
    assert harness.jobs[name].exit_codes == [2]


def test_interrupting_the_step_stops_the_training_job(make_harness, s3, job: Job):
    stored = f"{ROOT_PREFIX}/masks/{job.uuid}/metrics.json"
    s3.put_object(Bucket=BUCKET, Key=stored, Body=b'{"older": 1}')  # the last good masks output
    harness = make_harness(faults=["hang:masks"])
    polls = []

    def interrupted_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:  # the container is up and hanging in the masks stage
            raise dg.DagsterExecutionInterruptedError()
        import time

        time.sleep(0.5)

    client = PipesSageMakerClient(_settings(), sagemaker_client=harness, s3_client=s3, sleep=interrupted_sleep, **FAST)
    result = dg.materialize([_masks_asset(client, job.spec)], raise_on_error=False)
    assert not result.success
    (name,) = harness.jobs
    assert harness.stopped == [name]
    played = harness.jobs[name]
    assert played.done.wait(30)
    assert played.status == "Stopped" and played.exit_codes == [143]
    assert not result.asset_materializations_for_node("masks")
    assert s3.get_object(Bucket=BUCKET, Key=stored)["Body"].read() == b'{"older": 1}'  # a cancel keeps it


@pytest.mark.parametrize("fault", ["sigterm-after-publish:masks", "sigterm-after-report:masks"])
def test_spot_restart_neither_loses_nor_duplicates_reports(make_harness, s3, job: Job, fault: str):
    harness = make_harness(faults=[fault], restarts=1)
    client = PipesSageMakerClient(_settings(spot=True), sagemaker_client=harness, s3_client=s3, **FAST)
    result = dg.materialize([_masks_asset(client, job.spec)])
    (name,) = harness.jobs
    played = harness.jobs[name]
    assert played.exit_codes == [143, 0], harness.container_log(name, 0)
    assert played.request["EnableManagedSpotTraining"] is True
    assert "CheckpointConfig" in played.request
    # Dagster saw exactly one materialization. Published masks are not run again; masks reported but not
    # yet published (a stage is published only after its report and checks) runs again, unreported.
    second = harness.container_log(name, 1)
    if fault.startswith("sigterm-after-report"):
        assert "already reported to Dagster" in second
    else:
        assert "complete from an earlier container" in second
    assert len(_materializations(s3, name)) == 1
    chunks = _chunks(s3, name)
    assert sorted(chunks) == list(range(1, len(chunks) + 1))  # contiguous: nothing overwritten
    (materialization,) = result.asset_materializations_for_node("masks")
    assert materialization.metadata["frames"].value == job.frames


def _launcher_asset(spec, stages: list[str]) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=[dg.AssetSpec(s) for s in stages], can_subset=False)
    def reconstruction(context: dg.AssetExecutionContext, launcher: SageMakerLauncher):
        locations = StageLocations(
            root=f"s3://{BUCKET}/{ROOT_PREFIX}",
            media=f"s3://{BUCKET}/{spec.s3.media_key}",
            endpoint_url=launcher.sagemaker_endpoint_url,
            region=REGION,
        )
        yield from launcher.launch(context, stages, spec, locations)

    return reconstruction


def _launcher(aws: dict[str, str]) -> SageMakerLauncher:
    return SageMakerLauncher(
        image_uri=IMAGE,
        role_arn=ROLE,
        region=REGION,
        sagemaker_endpoint_url=aws["AWS_ENDPOINT_URL"],
        poll_initial_s=0.2,
        poll_max_s=1.0,
        message_interval_s=0.5,
    )


def test_launcher_streams_results_and_raises_stage_failure(make_harness, s3, aws, job: Job, monkeypatch):
    harness = make_harness()
    monkeypatch.setattr(SageMakerLauncher, "sagemaker_client", lambda self: harness)
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT_PREFIX}/masks/{job.uuid}/stale.txt", Body=b"older run")
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT_PREFIX}/masks/{job.uuid}/metrics.json", Body=b'{"older": 1}')

    def stored() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{ROOT_PREFIX}/masks/{job.uuid}/")["Contents"]
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    # A job that fails leaves the stored output as it was: nothing is deleted before a job succeeds.
    older = stored()
    failing = make_spec(job.uuid, segmentation={"removeBackground": True})
    result = dg.materialize(
        [_launcher_asset(failing, ["masks"])], resources={"launcher": _launcher(aws)}, raise_on_error=False
    )
    assert not result.success and stored() == older

    result = dg.materialize([_launcher_asset(job.spec, ["masks"])], resources={"launcher": _launcher(aws)})
    (materialization,) = result.asset_materializations_for_node("reconstruction")
    assert materialization.metadata["frames"].value == job.frames
    assert materialization.metadata["sagemaker/billable_seconds"].value >= 1
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{ROOT_PREFIX}/masks/{job.uuid}/")["Contents"]
    assert not any(o["Key"].endswith("stale.txt") for o in listed)

    result = dg.materialize(
        [_launcher_asset(failing, ["masks"])], resources={"launcher": _launcher(aws)}, raise_on_error=False
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error.cls_name == "StageFailure"
    assert "stage masks failed: SageMaker training job" in error.message
    assert "background removal (u2net) needs the weights file u2net.onnx" in error.message
    assert error.cause.cls_name == SageMakerJobFailed.__name__  # raised from the client's exception
    assert failure.step_failure_data.user_failure_data.metadata["stage"].value == "masks"


def test_a_stage_whose_report_was_lost_is_kept_and_materialized(make_harness, s3, aws, job: Job, monkeypatch):
    """The container publishes masks (marker last) but its report never reaches Dagster: the launcher
    judges from S3, keeps the new output and materializes it from the published metrics."""
    harness = make_harness(faults=["drop-report:masks"])
    monkeypatch.setattr(SageMakerLauncher, "sagemaker_client", lambda self: harness)
    result = dg.materialize([_launcher_asset(job.spec, ["masks"])], resources={"launcher": _launcher(aws)})
    (name,) = harness.jobs
    assert "fault: the report of masks is lost" in harness.container_log(name, 0)
    assert _materializations(s3, name) == []  # nothing reached Dagster through Pipes
    (materialization,) = result.asset_materializations_for_node("reconstruction")
    assert materialization.metadata["reported_from"].value.startswith("storage")
    assert materialization.metadata["frames"].value == job.frames
    metrics = s3.get_object(Bucket=BUCKET, Key=f"{ROOT_PREFIX}/masks/{job.uuid}/metrics.json")["Body"].read()
    assert json.loads(metrics)["frames"] == job.frames
