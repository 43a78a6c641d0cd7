"""The CreateTrainingJob request, built without AWS: names, limits, channels, spot, tags, bootstrap size."""

from __future__ import annotations

import re

import pytest
from dagster_pipes import decode_param

from gs_dagster.resources.sagemaker_request import (
    ENV_VALUE_MAX,
    JOB_NAME_MAX,
    SageMakerSettings,
    build_create_training_job_request,
    training_job_name,
    validate_image_uri,
)

from .conftest import BUCKET, IMAGE, ROLE, ROOT_PREFIX, make_spec

SETTINGS = SageMakerSettings(image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}")
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RUN_ID = "4f9c2a1e-0000-4000-8000-1234567890ab"


def _name(uuid: str = "job-1", attempt: int = 0, stages=("splat", "spz"), run_id: str = RUN_ID) -> str:
    return training_job_name("gs", uuid, run_id=run_id, step_key="reconstruction", attempt=attempt, stages=stages)


def test_job_names_are_unique_per_attempt_and_fit_63_characters():
    longest = "a-" * 17 + "bc"  # 36 characters, the spec's maximum
    names = {_name(longest, attempt) for attempt in range(5)} | {_name(longest, run_id="other-run")}
    assert len(names) == 6
    for name in names:
        assert len(name) <= JOB_NAME_MAX and NAME_RE.match(name), name
        assert name.startswith(f"gs-{longest}-")  # the whole uuid fits with the default prefix
    cut = training_job_name("gs-dagster", longest, run_id=RUN_ID, step_key="s", attempt=123456, stages=["splat"])
    assert len(cut) <= JOB_NAME_MAX and NAME_RE.match(cut) and cut.endswith("-a123456"), cut
    assert _name("job-1", 2).endswith("-a2") and _name("job-1", 2) == _name("job-1", 2)
    assert _name(stages=("frames",)) != _name(stages=("splat",))


def test_image_must_be_pinned():
    validate_image_uri(IMAGE)
    validate_image_uri("123.dkr.ecr.us-east-1.amazonaws.com/repo@sha256:" + "a" * 64)
    for bad in ("123.dkr.ecr.us-east-1.amazonaws.com/repo", "123.dkr.ecr.us-east-1.amazonaws.com/repo:latest"):
        with pytest.raises(ValueError, match="explicit tag or digest"):
            validate_image_uri(bad)


def test_request_for_a_whole_chain():
    spec = make_spec("job-1", instanceType="ml.g6e.8xlarge")
    env = {"DAGSTER_PIPES_CONTEXT": "x" * 200, "DAGSTER_PIPES_MESSAGES": "y" * 200}
    name = _name(stages=STAGES_ALL)
    request = build_create_training_job_request(
        SETTINGS, spec, list(STAGES_ALL), job_name=name, environment=env, run_id=RUN_ID, attempt=1
    )
    assert request["TrainingJobName"] == name
    assert request["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    assert request["RoleArn"] == ROLE
    assert request["ResourceConfig"] == {"InstanceType": "ml.g6e.8xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    # frames is in the chain: the only input is the media
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["media"]
    source = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == f"s3://{BUCKET}/media-input/job-1.mp4"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/{ROOT_PREFIX}/_sagemaker/"}
    assert request["HyperParameters"]["stages"] == ",".join(STAGES_ALL)
    # The job publishes into its own staging prefix; the launcher promotes complete stages afterwards.
    assert request["HyperParameters"]["output_root"] == f"s3://{BUCKET}/{ROOT_PREFIX}/.staging/{name}"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 172800}
    assert request["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/{ROOT_PREFIX}/_checkpoints/job-1/{RUN_ID[:8]}/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert "EnableManagedSpotTraining" not in request
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["dagster/run-id"] == RUN_ID and tags["gs/job-uuid"] == "job-1" and tags["dagster/attempt"] == "1"
    assert all(len(v) <= 2500 for v in request["HyperParameters"].values())


STAGES_ALL = ("frames", "masks", "sparse_model", "splat", "spz")


def test_channels_are_the_upstream_stage_dirs():
    spec = make_spec("job-1")
    present = {"frames", "sparse_model"}  # masks never ran: optional, so no channel
    request = build_create_training_job_request(
        SETTINGS,
        spec,
        ["splat", "spz"],
        job_name=_name(),
        environment={},
        run_id=RUN_ID,
        has_input=lambda name: name in present,
    )
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    assert uris == {
        "frames": f"s3://{BUCKET}/{ROOT_PREFIX}/frames/job-1/",
        "sparse_model": f"s3://{BUCKET}/{ROOT_PREFIX}/sparse_model/job-1/",
    }
    with pytest.raises(ValueError, match="need frames of job job-1"):
        build_create_training_job_request(
            SETTINGS, spec, ["splat"], job_name=_name(), environment={}, run_id=RUN_ID, has_input=lambda n: False
        )


def test_spot_encryption_and_vpc():
    settings = SageMakerSettings(
        image_uri=IMAGE,
        role_arn=ROLE,
        storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}",
        spot=True,
        max_runtime_seconds=3600,
        max_wait_seconds=7200,
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/abc",
        subnets=("subnet-1",),
        security_group_ids=("sg-1",),
    )
    request = build_create_training_job_request(
        settings, make_spec("job-1"), ["sparse_model"], job_name=_name(), environment={}, run_id=RUN_ID
    )
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert "VolumeKmsKeyId" not in request["ResourceConfig"]  # g5/g6e: local NVMe, encrypted in hardware
    assert request["OutputDataConfig"]["KmsKeyId"] == settings.kms_key_id
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}


@pytest.mark.parametrize("form", ["reference", "guidance"])
def test_a_job_asks_for_spot_itself(form: str):
    """useSpotInstance (both job forms) makes this job spot even where the deployment runs on demand."""
    sections = {"useSpotInstance": "true"}
    if form == "guidance":  # the newer AWS form: read by gs_stages.job_guidance
        sections["reconstruction"] = {"matchingMethod": "exhaustive"}
    settings = SageMakerSettings(
        image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}", max_runtime_seconds=3600
    )
    assert not settings.spot
    spot = build_create_training_job_request(
        settings, make_spec("job-1", **sections), ["sparse_model"], job_name=_name(), environment={}, run_id=RUN_ID
    )
    assert spot["EnableManagedSpotTraining"] is True
    assert spot["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert spot["CheckpointConfig"]["S3Uri"].startswith(f"s3://{BUCKET}/")
    on_demand = build_create_training_job_request(
        settings, make_spec("job-1"), ["sparse_model"], job_name=_name(), environment={}, run_id=RUN_ID
    )
    assert "EnableManagedSpotTraining" not in on_demand and "CheckpointConfig" not in on_demand


def test_instance_type_allow_list_and_environment_limit():
    spec = make_spec("job-1", instanceType="ml.g5.12xlarge")
    narrow = SageMakerSettings(
        image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/p", instance_types=("ml.g5.4xlarge",)
    )
    with pytest.raises(ValueError, match="not allowed"):
        build_create_training_job_request(narrow, spec, ["masks"], job_name=_name(), environment={}, run_id=RUN_ID)
    with pytest.raises(ValueError, match="SageMaker allows 512"):
        build_create_training_job_request(
            SETTINGS, spec, ["masks"], job_name=_name(), environment={"X": "x" * 513}, run_id=RUN_ID
        )


def test_pipes_bootstrap_fits_sagemaker_environment_limit_at_worst_case_lengths():
    """The encoded DAGSTER_PIPES_CONTEXT/MESSAGES for a 63-character bucket, a long root and job name."""
    from gs_dagster.dry_run import dry_run_request

    settings = SageMakerSettings(
        image_uri=IMAGE,
        role_arn=ROLE,
        storage_root=f"s3://{'b' * 63}/{'deployment-root/' * 3}",
        job_name_prefix="g" * 10,
    )
    spec = make_spec("u" * 36)
    request = dry_run_request(settings, spec, ["splat"], attempt=99999)
    assert len(request["TrainingJobName"]) <= JOB_NAME_MAX
    lengths = {k: len(v) for k, v in request["Environment"].items()}
    assert set(lengths) == {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"}
    assert all(n <= ENV_VALUE_MAX for n in lengths.values()), lengths
    messages = decode_param(request["Environment"]["DAGSTER_PIPES_MESSAGES"])
    assert messages["include_stdio_in_messages"] is True  # stdout/stderr travel with the messages
    assert (
        messages["key_prefix"]
        == f"deployment-root/deployment-root/deployment-root/_pipes/{request['TrainingJobName']}/m"
    )
