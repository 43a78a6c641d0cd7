"""The CreateTrainingJob request of one launch (pure: the deployment's settings and the job in, a dict out).

* the image by explicit tag or digest, the job spec's instance type (allow-list), one input channel per
  upstream stage dir plus the media, the job's own staging prefix as the output root, tags carrying the
  Dagster run id and the job uuid, optional managed spot training with a checkpoint location;
* a job name unique per attempt (SageMaker never reuses one), at most 63 characters;
* SageMaker's limits on environment and hyperparameter values, checked before the job is created;
* the cost estimate from billable seconds.

resources/sagemaker_client.py sends it; `gs-dagster dry-run` prints it (gs_dagster/dry_run.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gs_dagster.resources.launcher import external_inputs, ordered_stages
from gs_dagster.resources.stage_outputs import staging_prefix
from gs_dagster.resources.storage import split_s3_uri
from gs_stages import sagemaker_contract as contract
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec
from gs_stages.stage import STAGES

JOB_NAME_MAX = 63  # SageMaker: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
ENV_VALUE_MAX = 512  # SageMaker: each Environment value
HYPERPARAMETER_VALUE_MAX = 2500  # SageMaker: each HyperParameters value
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
#: Tags on every training job: whose Dagster run and which job it serves (the orphan sweeper reads them).
RUN_ID_TAG = "dagster/run-id"
JOB_UUID_TAG = "gs/job-uuid"
_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_IMAGE_RE = re.compile(r"^(?P<repo>[^@\s]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
#: Approximate on-demand SageMaker training prices (USD per instance-hour, us-east-1). Used only for
#: the cost estimate in the metadata; set `hourly_usd` to your region's prices.
DEFAULT_HOURLY_USD: dict[str, float] = {
    "ml.g5.4xlarge": 2.03,
    "ml.g5.8xlarge": 3.06,
    "ml.g5.12xlarge": 7.09,
    "ml.g6e.4xlarge": 3.76,
    "ml.g6e.8xlarge": 5.66,
}

#: GPUs per SageMaker training instance type (AWS's instance pages): with `training.enableMultiGpu` the
#: splat stage trains on all of them (container/gs_stages/splat/data_parallel.py); types not listed have one.
INSTANCE_GPUS: dict[str, int] = {
    **{f"ml.{family}.{size}": 4 for family in ("g5", "g6", "g6e") for size in ("12xlarge", "24xlarge")},
    **{f"ml.{family}.48xlarge": 8 for family in ("g5", "g6", "g6e")},
    "ml.p4d.24xlarge": 8,
    "ml.p4de.24xlarge": 8,
    "ml.p5.48xlarge": 8,
}


def training_ranks(spec: JobSpec, stages: Sequence[str]) -> int | None:
    """The splat stage's `data_parallel_ranks` for this launch: the instance's GPUs when the job asks for
    several and trains here; None leaves the stage to count them (and say why it trained on one)."""
    if "splat" not in stages or not spec.training.enable_multi_gpu:
        return None
    gpus = INSTANCE_GPUS.get(spec.instance_type, 1)
    return gpus if gpus > 1 else None


@dataclass(frozen=True)
class SageMakerSettings:
    """Deployment facts (Terraform outputs feed them; see docs/DEPLOYING.md)."""

    image_uri: str  # <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag> or @sha256:<digest>; never latest
    role_arn: str  # the SageMaker execution role
    storage_root: str  # s3://bucket/prefix of the <root>/<stage>/<uuid>/ layout
    job_name_prefix: str = "gs"  # the Dagster role may only create training jobs named <prefix>-*
    instance_types: tuple[str, ...] = DEFAULT_INSTANCE_TYPES
    volume_size_gb: int = 100
    max_runtime_seconds: int = 2 * 24 * 3600
    spot: bool = False  # managed spot training
    max_wait_seconds: int | None = None  # spot only: runtime plus time waiting for capacity
    kms_key_id: str | None = None  # OutputDataConfig.KmsKeyId (the Dagster role requires it: Terraform)
    # The ML storage volume's key. Leave unset for instance types with local NVMe storage (g5, g6e: the
    # allowed types), which SageMaker encrypts in hardware and refuses a VolumeKmsKeyId for.
    volume_kms_key_id: str | None = None
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)  # extra tags on every job (cost allocation)
    pipes_prefix: str = "_pipes"  # under the storage root: Pipes context and message chunks
    checkpoint_prefix: str = "_checkpoints"  # under the storage root
    sagemaker_output_prefix: str = "_sagemaker"  # under the storage root: OutputDataConfig

    def __post_init__(self) -> None:
        validate_image_uri(self.image_uri)
        split_s3_uri(self.storage_root)
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,9}", self.job_name_prefix):
            raise ValueError(f"job_name_prefix must be 1-10 letters, digits or hyphens, got {self.job_name_prefix!r}")
        if self.spot and self.max_wait_seconds is not None and self.max_wait_seconds < self.max_runtime_seconds:
            raise ValueError("max_wait_seconds must be at least max_runtime_seconds")

    @property
    def bucket(self) -> str:
        return split_s3_uri(self.storage_root)[0]

    @property
    def root_prefix(self) -> str:
        return split_s3_uri(self.storage_root)[1]

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.root_prefix, *parts) if p and p.strip("/"))

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"


def validate_image_uri(uri: str) -> None:
    """An image pinned by tag or digest; `latest` and untagged references are refused."""
    match = _IMAGE_RE.match(uri)
    if not match or "/" not in match.group("repo"):
        raise ValueError(f"not an image reference: {uri!r}")
    tag, digest = match.group("tag"), match.group("digest")
    if digest is None and (tag is None or tag == "latest"):
        raise ValueError(f"the training image must name an explicit tag or digest, never latest: {uri!r}")


def training_job_name(
    prefix: str, uuid: str, *, run_id: str, step_key: str, attempt: int, stages: Sequence[str]
) -> str:
    """`<prefix>-<uuid>-<hash>-a<attempt>`: unique per run, step, attempt and stage set; ≤ 63 characters.

    SageMaker never reuses a training job name, so a retry (a new attempt) gets a new one; the uuid is
    cut (never the hash) when the name would be too long.
    """
    digest = hashlib.sha256(f"{run_id}|{step_key}|{attempt}|{','.join(stages)}".encode()).hexdigest()[:8]
    tail = f"-{digest}-a{attempt}"
    room = JOB_NAME_MAX - len(prefix) - 1 - len(tail)
    uuid_part = re.sub(r"-+$", "", uuid[:room]) or "job"
    name = f"{prefix}-{uuid_part}{tail}"
    if not _JOB_NAME_RE.match(name):
        raise ValueError(f"cannot make a SageMaker job name from {prefix!r} and {uuid!r}: {name!r}")
    return name


def required_inputs(stages: Sequence[str]) -> set[str]:
    """Inputs some stage of the chain cannot run without (the others are optional)."""
    return {name for stage in stages for name in STAGES[stage].inputs}


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "InputMode": "File",
    }


def spec_hyperparameters(spec: JobSpec) -> dict[str, str]:
    text = json.dumps(spec.to_json(), separators=(",", ":"), sort_keys=True)
    if len(text) <= HYPERPARAMETER_VALUE_MAX:
        return {contract.HP_SPEC: text}
    packed = b64encode(zlib.compress(text.encode(), 9)).decode()
    if len(packed) > HYPERPARAMETER_VALUE_MAX:
        raise ValueError(f"the job spec is too large for a SageMaker hyperparameter even compressed ({len(packed)})")
    return {contract.HP_SPEC_Z: packed}


def check_environment(environment: Mapping[str, str]) -> None:
    for key, value in environment.items():
        if len(value) > ENV_VALUE_MAX:
            raise ValueError(
                f"environment value {key} is {len(value)} characters; SageMaker allows {ENV_VALUE_MAX}. "
                "Shorten the storage root prefix or the bucket name."
            )


def build_create_training_job_request(
    settings: SageMakerSettings,
    spec: JobSpec,
    stages: Sequence[str],
    *,
    job_name: str,
    environment: Mapping[str, str],
    run_id: str,
    attempt: int = 0,
    media_uri: str | None = None,
    engine_settings: Mapping[str, Any] | None = None,
    has_input: Callable[[str], bool] = lambda name: True,
) -> dict[str, Any]:
    """The CreateTrainingJob request for one chain of stages of one job (pure unless `has_input` looks).

    Channels: one per stage dir the chain reads but does not produce (`has_input(name)` says whether it
    holds anything: an absent optional input gets no channel, an absent required one is an error) and
    `media` (default: the spec's s3 location) when the chain starts with frames.
    """
    if not stages:
        raise ValueError("no stages to run")
    if spec.instance_type not in settings.instance_types:
        raise ValueError(
            f"instance type {spec.instance_type!r} is not allowed; choose one of {', '.join(settings.instance_types)}"
        )
    if not _JOB_NAME_RE.match(job_name):
        raise ValueError(f"invalid SageMaker job name {job_name!r}")
    ordered = ordered_stages(stages)
    environment = dict(environment)
    check_environment(environment)

    channels = []
    required = required_inputs(ordered)
    for name in external_inputs(ordered):
        if has_input(name):
            channels.append(_channel(name, settings.uri(name, spec.uuid) + "/"))
        elif name in required:
            raise ValueError(
                f"stage(s) {','.join(ordered)} need {name} of job {spec.uuid}: {settings.uri(name, spec.uuid)}/ empty"
            )
    if "media" in required:
        channels.append(
            _channel(contract.MEDIA_CHANNEL, media_uri or f"s3://{spec.s3.bucket_name}/{spec.s3.media_key}")
        )

    hyperparameters = {
        contract.HP_STAGES: ",".join(ordered),
        # The job's own staging root: the launcher promotes complete stages to settings.uri() afterwards.
        contract.HP_OUTPUT_ROOT: settings.uri(staging_prefix(job_name)),
        contract.HP_JOB_NAME: job_name,
        **spec_hyperparameters(spec),
    }
    ranks = training_ranks(spec, ordered)
    if ranks is not None:  # visible in the dry run: one process per GPU, meeting on the loopback
        engine_settings = {**(engine_settings or {}), "data_parallel_ranks": ranks}
    if engine_settings:
        hyperparameters[contract.HP_SETTINGS] = json.dumps(dict(engine_settings), separators=(",", ":"), sort_keys=True)
    too_long = [k for k, v in hyperparameters.items() if len(v) > HYPERPARAMETER_VALUE_MAX]
    if too_long:
        raise ValueError(f"hyperparameter(s) {too_long} exceed {HYPERPARAMETER_VALUE_MAX} characters")

    resource_config: dict[str, Any] = {
        "InstanceType": spec.instance_type,
        "InstanceCount": 1,
        "VolumeSizeInGB": settings.volume_size_gb,
    }
    output_config: dict[str, Any] = {"S3OutputPath": settings.uri(settings.sagemaker_output_prefix) + "/"}
    if settings.kms_key_id:
        output_config["KmsKeyId"] = settings.kms_key_id
    if settings.volume_kms_key_id:
        resource_config["VolumeKmsKeyId"] = settings.volume_kms_key_id
    spot = settings.spot or spec.use_spot_instance  # the deployment's choice, or this job's (useSpotInstance)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if spot:
        stopping["MaxWaitTimeInSeconds"] = settings.max_wait_seconds or 2 * settings.max_runtime_seconds

    tags = {
        **settings.tags,
        RUN_ID_TAG: run_id,
        "dagster/attempt": str(attempt),
        JOB_UUID_TAG: spec.uuid,
        "gs/stages": "+".join(ordered),
    }
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": settings.image_uri, "TrainingInputMode": "File"},
        "RoleArn": settings.role_arn,
        "HyperParameters": hyperparameters,
        "InputDataConfig": channels,
        "OutputDataConfig": output_config,
        "ResourceConfig": resource_config,
        "StoppingCondition": stopping,
        "Environment": environment,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if "splat" in ordered or spot:
        # Per Dagster run: a retried step resumes training, a new run starts from scratch.
        request["CheckpointConfig"] = {
            "S3Uri": settings.uri(settings.checkpoint_prefix, spec.uuid, run_id[:8]) + "/",
            "LocalPath": contract.CHECKPOINT_LOCAL_PATH,
        }
    if spot:
        request["EnableManagedSpotTraining"] = True
    if settings.subnets:
        request["VpcConfig"] = {
            "Subnets": list(settings.subnets),
            "SecurityGroupIds": list(settings.security_group_ids),
        }
    return request


def estimate_cost_usd(
    instance_type: str, billable_seconds: int | None, hourly_usd: Mapping[str, float]
) -> float | None:
    """Billable seconds already reflect the spot discount (SageMaker bills spot jobs fewer seconds)."""
    price = hourly_usd.get(instance_type)
    if price is None or billable_seconds is None:
        return None
    return round(billable_seconds / 3600 * price, 4)
