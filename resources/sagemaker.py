"""Run stages of one job as a SageMaker training job, with Dagster Pipes over S3.

dagster-aws has Pipes clients for ECS, EMR, Glue and Lambda; this is the SageMaker one. One call of
`PipesSageMakerClient.run` is one training job (one container start) that runs a chain of stages:

* CreateTrainingJob: the image by explicit tag or digest, the job spec's instance type (allow-list),
  one input channel per upstream stage dir plus the media, the storage root as output, tags carrying
  the Dagster run id and the job uuid, optional managed spot training with a checkpoint location.
* Pipes bootstrap through S3: the context as an S3 object (PipesS3ContextInjector), messages and the
  container's stdout/stderr as S3 chunks (PipesS3MessageReader). SageMaker caps every environment
  value at 512 characters, so both bootstrap values are checked before the job is created. CloudWatch
  is never polled (its API throttles per account).
* A job name unique per attempt (SageMaker never reuses one), at most 63 characters.
* The job publishes stage outputs into its own staging prefix; once it has ended, the stages it
  published completely are promoted to `<root>/<stage>/<uuid>/` (`promote`), so the last good outputs
  stay in place while it runs, fails or is stopped.
* describe_training_job polled with exponential backoff and no overall cap; an interrupted step stops
  the training job; a failed job raises SageMakerJobFailed carrying its FailureReason; billable
  seconds and an estimated cost come back as metadata.

`gs_stages.sagemaker_entry` is the container side of this contract.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from base64 import b64encode
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from dagster import (
    AssetCheckResult,
    AssetObservation,
    DagsterExecutionInterruptedError,
    MaterializeResult,
    MetadataValue,
    PipesClient,
    PipesClientCompletedInvocation,
    open_pipes_session,
)
from dagster._core.definitions.resource_annotation import TreatAsResourceParam
from dagster._core.pipes.context import PipesExecutionResult
from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader
from dagster_pipes import PipesBlobStoreMessageWriter, PipesParams
from pydantic import Field

from gs_stages import sagemaker_entry as entry
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec
from gs_stages.report import FAILED_EVENT
from gs_stages.stage import STAGES
from resources.launcher import (
    StageFailure,
    StageLauncher,
    StageLocations,
    external_inputs,
    ordered_stages,
    with_kept_note,
)
from resources.progress_relay import ProgressRelay
from resources.stage_outputs import promote_prefix, settle_results, staging_prefix, stored_marker
from resources.storage import S3Store, split_s3_uri

#: The Dagster pool every asset that launches a GPU job declares (`pool=GPU_POOL`); its limit caps
#: concurrent GPU jobs (infra/dagster.yaml, or `dagster instance concurrency set gpu <n>`).
GPU_POOL = "gpu"

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


class SageMakerJobFailed(RuntimeError):
    """A training job that ended Failed or Stopped. `failure_reason` is SageMaker's FailureReason."""

    def __init__(
        self,
        job_name: str,
        status: str,
        failure_reason: str | None,
        secondary_status: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        stage: str | None = None,
    ):
        self.job_name = job_name
        self.status = status
        self.failure_reason = failure_reason
        self.secondary_status = secondary_status
        self.metadata = dict(metadata or {})  # job identity, billable seconds, cost estimate
        self.stage = stage  # the stage that failed, when the container reported it
        detail = f" ({secondary_status})" if secondary_status and secondary_status != status else ""
        super().__init__(
            f"SageMaker training job {job_name} {status.lower()}{detail}: {failure_reason or 'no FailureReason given'}"
        )


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
        return {entry.HP_SPEC: text}
    packed = b64encode(zlib.compress(text.encode(), 9)).decode()
    if len(packed) > HYPERPARAMETER_VALUE_MAX:
        raise ValueError(f"the job spec is too large for a SageMaker hyperparameter even compressed ({len(packed)})")
    return {entry.HP_SPEC_Z: packed}


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
        channels.append(_channel(entry.MEDIA_CHANNEL, media_uri or f"s3://{spec.s3.bucket_name}/{spec.s3.media_key}"))

    hyperparameters = {
        entry.HP_STAGES: ",".join(ordered),
        # The job's own staging root: the launcher promotes complete stages to settings.uri() afterwards.
        entry.HP_OUTPUT_ROOT: settings.uri(staging_prefix(job_name)),
        entry.HP_JOB_NAME: job_name,
        **spec_hyperparameters(spec),
    }
    if engine_settings:
        hyperparameters[entry.HP_SETTINGS] = json.dumps(dict(engine_settings), separators=(",", ":"), sort_keys=True)
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
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.spot:
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
    if "splat" in ordered or settings.spot:
        # Per Dagster run: a retried step resumes training, a new run starts from scratch.
        request["CheckpointConfig"] = {
            "S3Uri": settings.uri(settings.checkpoint_prefix, spec.uuid, run_id[:8]) + "/",
            "LocalPath": entry.CHECKPOINT_LOCAL_PATH,
        }
    if settings.spot:
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


class _PrefixedS3MessageReader(PipesS3MessageReader):
    """PipesS3MessageReader whose chunks go under a fixed key prefix (the stock one picks a random
    top-level prefix, which a least-privilege execution role could not write)."""

    def __init__(self, *, key_prefix: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.key_prefix = key_prefix

    @contextmanager
    def get_params(self) -> Iterator[PipesParams]:
        yield {
            "bucket": self.bucket,
            "key_prefix": self.key_prefix,
            PipesBlobStoreMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: self.include_stdio_in_messages,
        }


def pipes_io(
    settings: SageMakerSettings, job_name: str, s3_client: Any, message_interval: float = 10
) -> tuple[PipesS3ContextInjector, _PrefixedS3MessageReader]:
    """The Pipes context injector and message reader of one training job, both under
    `<root>/<pipes_prefix>/<job name>/` (the context object, then the message chunks in `m/`)."""
    pipes_key = settings.key(settings.pipes_prefix, job_name)
    injector = PipesS3ContextInjector(bucket=settings.bucket, client=s3_client, key_prefix=pipes_key + "/")
    reader = _PrefixedS3MessageReader(
        key_prefix=f"{pipes_key}/m",
        bucket=settings.bucket,
        client=s3_client,
        interval=message_interval,
        include_stdio_in_messages=True,
    )
    return injector, reader


@dataclass
class _LaunchedJob:
    session: Any  # dagster PipesSession
    name: str
    arn: str | None
    request: dict[str, Any]


class PipesSageMakerClient(PipesClient, TreatAsResourceParam):
    """A Pipes client that runs a gs_stages chain as one SageMaker training job.

    `run` returns when the job has ended (PipesClientCompletedInvocation, job metadata on every result);
    `stream` yields each reported result as it arrives (what the stage launcher uses).

    Args:
        settings: deployment facts (image, role, storage root, limits).
        sagemaker_client / s3_client: boto3 clients (default: from the environment).
        message_interval: seconds between reads of the message chunks.
        poll_initial / poll_max / poll_factor: describe_training_job backoff (no overall cap).
        sleep: how to wait between polls (tests inject their own).
        forward_termination: stop the training job when the Dagster step is interrupted.
        hourly_usd: instance prices for the cost estimate.
    """

    def __init__(
        self,
        settings: SageMakerSettings,
        *,
        sagemaker_client: Any = None,
        s3_client: Any = None,
        message_interval: float = 10,
        poll_initial: float = 10,
        poll_max: float = 120,
        poll_factor: float = 1.5,
        sleep: Callable[[float], None] = time.sleep,
        forward_termination: bool = True,
        hourly_usd: Mapping[str, float] | None = None,
    ):
        self.settings = settings
        self._sagemaker = sagemaker_client or boto3.client("sagemaker")
        self._s3 = s3_client or boto3.client("s3")
        self.message_interval = message_interval
        self.poll_initial, self.poll_max, self.poll_factor = poll_initial, poll_max, poll_factor
        self._sleep = sleep
        self.forward_termination = forward_termination
        self.hourly_usd = dict(DEFAULT_HOURLY_USD if hourly_usd is None else hourly_usd)
        self.promoted: dict[str, dict[str, Any]] = {}  # stage -> metrics, of the last job's promotion

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    # -- launching --------------------------------------------------------------------------------------
    def _has_objects(self, key_prefix: str) -> bool:
        page = self._s3.list_objects_v2(Bucket=self.settings.bucket, Prefix=key_prefix + "/", MaxKeys=1)
        return bool(page.get("KeyCount") or page.get("Contents"))

    @contextmanager
    def _launch(
        self,
        context: Any,
        spec: JobSpec,
        stages: Sequence[str],
        media_uri: str | None,
        extras: Mapping[str, Any] | None,
        engine_settings: Mapping[str, Any] | None,
        on_job_created: Callable[[str], None] | None,
    ) -> Iterator[_LaunchedJob]:
        """Open the Pipes session and create the training job; the session closes when the block ends."""
        run_id = context.run.run_id
        attempt = int(context.retry_number or 0)
        step_key = context.get_step_execution_context().step.key
        stages = ordered_stages(stages)
        job_name = training_job_name(
            self.settings.job_name_prefix, spec.uuid, run_id=run_id, step_key=step_key, attempt=attempt, stages=stages
        )
        # Built (and validated) before the Pipes session opens; only the bootstrap values come later.
        request = build_create_training_job_request(
            self.settings,
            spec,
            stages,
            job_name=job_name,
            environment={},
            run_id=run_id,
            attempt=attempt,
            media_uri=media_uri,
            engine_settings=engine_settings,
            has_input=lambda name: self._has_objects(self.settings.key(name, spec.uuid)),
        )
        injector, reader = pipes_io(self.settings, job_name, self._s3, self.message_interval)
        with open_pipes_session(
            context=context,
            context_injector=injector,
            message_reader=reader,
            extras={**(extras or {}), "sagemaker_job_name": job_name},
        ) as session:
            request["Environment"] = dict(session.get_bootstrap_env_vars())
            check_environment(request["Environment"])
            response = self._sagemaker.create_training_job(**request)
            context.log.info(
                f"SageMaker training job {job_name} created ({spec.instance_type}, stages {','.join(stages)}"
                f"{', spot' if self.settings.spot else ''}): {self.console_url(job_name)}"
            )
            if on_job_created is not None:
                on_job_created(job_name)
            yield _LaunchedJob(session, job_name, response.get("TrainingJobArn"), request)

    def _poll(self, job_name: str, log: Any, tick: float | None = None) -> Iterator[dict[str, Any] | None]:
        """Each description until the job ends: exponential backoff up to poll_max, no overall cap.
        With `tick`, waits are cut into slices of `tick` seconds with a None between them, so the caller
        can pass on the messages that arrived (progress) without describing the job more often."""
        delay = self.poll_initial
        seen: tuple[str, str | None] | None = None
        while True:
            try:
                description = self._sagemaker.describe_training_job(TrainingJobName=job_name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("ThrottlingException", "Throttling"):
                    raise
                description = None
            if description is not None:
                state = (description["TrainingJobStatus"], description.get("SecondaryStatus"))
                if state != seen:
                    log.info(f"SageMaker training job {job_name}: {state[0]} / {state[1]}")
                    seen = state
                yield description
                if state[0] in TERMINAL_STATUSES:
                    return
            waited = 0.0
            while tick and delay - waited > tick:
                self._sleep(tick)
                waited += tick
                yield None
            self._sleep(delay - waited)
            delay = min(delay * self.poll_factor, self.poll_max)

    def stop(self, job_name: str, log: Any) -> None:
        log.warning(f"[pipes] execution interrupted: stopping SageMaker training job {job_name}")
        try:
            self._sagemaker.stop_training_job(TrainingJobName=job_name)
        except ClientError as exc:  # it already ended
            log.warning(f"could not stop SageMaker training job {job_name}: {exc}")

    def run(  # type: ignore[override]
        self,
        *,
        context: Any,
        spec: JobSpec,
        stages: Sequence[str],
        extras: Mapping[str, Any] | None = None,
        media_uri: str | None = None,
        engine_settings: Mapping[str, Any] | None = None,
        on_job_created: Callable[[str], None] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run `stages` of `spec` in one training job; returns when it completed, raises SageMakerJobFailed."""
        with self._launch(context, spec, stages, media_uri, extras, engine_settings, on_job_created) as job:
            try:
                description = deque(self._poll(job.name, context.log), maxlen=1)[0]
            except (DagsterExecutionInterruptedError, KeyboardInterrupt):
                if self.forward_termination:
                    self.stop(job.name, context.log)
                raise
            self.promote(spec, stages, job.name, context.log)
            self._raise_unless_completed(job, description, context.log)
        return PipesClientCompletedInvocation(job.session, metadata=self.job_metadata(description, job.arn))

    def stream(
        self,
        *,
        context: Any,
        spec: JobSpec,
        stages: Sequence[str],
        extras: Mapping[str, Any] | None = None,
        media_uri: str | None = None,
        engine_settings: Mapping[str, Any] | None = None,
        on_job_created: Callable[[str], None] | None = None,
    ) -> Iterator[PipesExecutionResult | AssetObservation]:
        """Like `run`, yielding the container's progress as it comes (observations, passed on every
        `message_interval`, not only after each describe) and the results it reported once the job has
        ended and its complete stages were promoted to the storage root (`self.promoted`: their stored
        metrics), so that every yielded materialization's output is in storage. Materializations carry the
        job's billable seconds and cost estimate, check results its identity.
        """
        relay = ProgressRelay(context)  # progress messages as log lines and AssetObservations
        taken = 0
        reported: list[PipesExecutionResult] = []

        def fresh(session: Any) -> list[PipesExecutionResult]:
            nonlocal taken
            results = list(session.get_reported_results())
            new, taken = results[taken:], len(results)
            return new

        with self._launch(context, spec, stages, media_uri, extras, engine_settings, on_job_created) as job:
            identity = self.job_metadata({"TrainingJobName": job.name, **job.request}, job.arn)
            description: dict[str, Any] = {}
            try:
                for polled in self._poll(job.name, context.log, tick=self.message_interval):
                    yield from relay.fresh(job.session)
                    if polled is not None:  # None: a slice of the wait
                        description = polled
                    reported += fresh(job.session)
            except (DagsterExecutionInterruptedError, KeyboardInterrupt, GeneratorExit):
                if self.forward_termination:
                    self.stop(job.name, context.log)
                raise
        # The session is closed: every message the container wrote has been read.
        yield from relay.fresh(job.session)
        self.promote(spec, stages, job.name, context.log)
        metadata = self.job_metadata(description, job.arn)
        for result in [*reported, *fresh(job.session)]:
            yield _with_metadata(result, metadata if isinstance(result, MaterializeResult) else identity)
        self._raise_unless_completed(job, description, context.log)

    def promote(self, spec: JobSpec, stages: Sequence[str], job_name: str, log: Any) -> dict[str, dict[str, Any]]:
        """Move each stage the job published completely (its marker, written after its checks passed) from
        the job's staging prefix to the storage root, in order, whatever the job's end; drop the rest.
        Until then the stored outputs are untouched (a failed, stopped or interrupted job leaves them)."""
        store = S3Store(self.settings.storage_root)
        store.client = self._s3
        staging = staging_prefix(job_name)
        self.promoted = {}
        for stage in ordered_stages(stages):
            staged = f"{staging}/{stage}/{spec.uuid}"
            if not stored_marker(store, staged) or store.head(f"{staged}/{entry.MARKER}") is None:
                break
            metrics = json.loads(store.read_bytes(f"{staged}/{entry.MARKER}")).get("metrics") or {}
            count = promote_prefix(store, staged, f"{stage}/{spec.uuid}")
            log.info(
                f"stage {stage}: {count} file(s) of training job {job_name} now in {store.uri_of(stage)}/{spec.uuid}"
            )
            self.promoted[stage] = metrics
        store.delete_prefix(staging)
        return self.promoted

    def _raise_unless_completed(self, job: _LaunchedJob, description: Mapping[str, Any], log: Any) -> None:
        status = description.get("TrainingJobStatus", "Unknown")
        metadata = self.job_metadata(description, job.arn)
        if status == "Completed":
            log.info(
                f"SageMaker training job {job.name} completed: {metadata.get('sagemaker/billable_seconds')} "
                f"billable seconds, about ${metadata.get('sagemaker/cost_usd_estimate')}"
            )
            return
        failed = [
            m.get("stage")
            for m in job.session.get_custom_messages()
            if isinstance(m, dict) and m.get("event") == FAILED_EVENT
        ]
        failure = SageMakerJobFailed(
            job.name,
            status,
            description.get("FailureReason"),
            description.get("SecondaryStatus"),
            metadata,
            stage=failed[-1] if failed else None,
        )
        log.error(str(failure))
        raise failure

    # -- results ----------------------------------------------------------------------------------------
    def console_url(self, job_name: str) -> str:
        region = self._sagemaker.meta.region_name
        return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{job_name}"

    def job_metadata(self, description: Mapping[str, Any], arn: str | None = None) -> dict[str, Any]:
        """Job identity, and once it ended its billable seconds and an estimated cost."""
        name = description["TrainingJobName"]
        instance = (description.get("ResourceConfig") or {}).get("InstanceType")
        billable = description.get("BillableTimeInSeconds")
        metadata: dict[str, Any] = {
            "sagemaker/job_name": name,
            "sagemaker/job_arn": arn or description.get("TrainingJobArn"),
            "sagemaker/console_url": MetadataValue.url(self.console_url(name)),
            "sagemaker/instance_type": instance,
            "sagemaker/spot": bool(description.get("EnableManagedSpotTraining")),
            "sagemaker/billable_seconds": billable,
            "sagemaker/training_seconds": description.get("TrainingTimeInSeconds"),
            "sagemaker/cost_usd_estimate": estimate_cost_usd(instance or "", billable, self.hourly_usd),
        }
        return {k: v for k, v in metadata.items() if v is not None}


def _with_metadata(result: PipesExecutionResult, metadata: Mapping[str, Any]) -> PipesExecutionResult:
    if not metadata or not isinstance(result, MaterializeResult | AssetCheckResult):
        return result
    return result._replace(metadata={**(result.metadata or {}), **metadata})


class SageMakerLauncher(StageLauncher):
    """The stage launcher for AWS: one SageMaker training job per launch (see PipesSageMakerClient).

    The storage root must be S3. Terraform's outputs give image_uri, role_arn and kms_key_id.
    """

    image_uri: str = Field(description="training image by explicit tag or digest (never latest)")
    role_arn: str = Field(description="the SageMaker execution role")
    job_name_prefix: str = Field(default="gs", description="training jobs are named <prefix>-<uuid>-<hash>-a<n>")
    instance_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INSTANCE_TYPES), description="instanceType allow-list"
    )
    volume_size_gb: int = 100
    max_runtime_s: int = Field(default=2 * 24 * 3600, description="StoppingCondition.MaxRuntimeInSeconds")
    spot: bool = Field(default=False, description="managed spot training (checkpoints make it resumable)")
    max_wait_s: int | None = Field(default=None, description="spot only; default twice max_runtime_s")
    kms_key_id: str | None = Field(default=None, description="OutputDataConfig.KmsKeyId (Terraform: kms_key_arn)")
    volume_kms_key_id: str | None = Field(default=None, description="only for instance types without local NVMe")
    subnets: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags on every training job")
    region: str | None = None
    sagemaker_endpoint_url: str | None = None
    poll_initial_s: float = 10
    poll_max_s: float = 120
    message_interval_s: float = 10
    hourly_usd: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_HOURLY_USD))

    @classmethod
    def from_env(cls, env: Mapping[str, str], **fields: Any) -> SageMakerLauncher:
        """The launcher from the GS_SAGEMAKER_* variables (Terraform's `dagster_env` output sets them)."""

        def listed(name: str) -> list[str]:
            return [v.strip() for v in env.get(name, "").split(",") if v.strip()]

        def number(name: str) -> int | None:
            return int(env[name]) if env.get(name, "").strip() else None

        missing = [n for n in ("GS_SAGEMAKER_IMAGE_URI", "GS_SAGEMAKER_ROLE_ARN") if not env.get(n)]
        if missing:
            raise ValueError(f"the SageMaker launcher needs {', '.join(missing)} (terraform output dagster_env)")
        optional = {
            "job_name_prefix": env.get("GS_SAGEMAKER_JOB_NAME_PREFIX") or None,
            "kms_key_id": env.get("GS_SAGEMAKER_KMS_KEY_ID") or None,
            "volume_size_gb": number("GS_SAGEMAKER_VOLUME_GB"),
            "max_runtime_s": number("GS_SAGEMAKER_MAX_RUNTIME_S"),
            "max_wait_s": number("GS_SAGEMAKER_MAX_WAIT_S"),
            "spot": env.get("GS_SAGEMAKER_SPOT", "").strip().lower() in ("1", "true", "yes") or None,
            "subnets": listed("GS_SAGEMAKER_SUBNETS") or None,
            "security_group_ids": listed("GS_SAGEMAKER_SECURITY_GROUPS") or None,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            "sagemaker_endpoint_url": env.get("GS_SAGEMAKER_ENDPOINT_URL") or None,
            "instance_types": list(dict.fromkeys([*DEFAULT_INSTANCE_TYPES, *listed("GS_INSTANCE_TYPES")])),
        }
        return cls(
            image_uri=env["GS_SAGEMAKER_IMAGE_URI"],
            role_arn=env["GS_SAGEMAKER_ROLE_ARN"],
            **{k: v for k, v in optional.items() if v is not None},
            **fields,
        )

    def sagemaker_settings(self, storage_root: str) -> SageMakerSettings:
        return SageMakerSettings(
            image_uri=self.image_uri,
            role_arn=self.role_arn,
            storage_root=storage_root,
            job_name_prefix=self.job_name_prefix,
            instance_types=tuple(self.instance_types),
            volume_size_gb=self.volume_size_gb,
            max_runtime_seconds=self.max_runtime_s,
            spot=self.spot,
            max_wait_seconds=self.max_wait_s,
            kms_key_id=self.kms_key_id,
            volume_kms_key_id=self.volume_kms_key_id,
            subnets=tuple(self.subnets),
            security_group_ids=tuple(self.security_group_ids),
            tags=dict(self.tags),
        )

    def sagemaker_client(self) -> Any:
        return boto3.client("sagemaker", region_name=self.region, endpoint_url=self.sagemaker_endpoint_url)

    def s3_client(self, locations: StageLocations) -> Any:
        return boto3.client("s3", region_name=locations.region or self.region, endpoint_url=locations.endpoint_url)

    def client(self, locations: StageLocations, **kwargs: Any) -> PipesSageMakerClient:
        return PipesSageMakerClient(
            self.sagemaker_settings(locations.root),
            sagemaker_client=self.sagemaker_client(),
            s3_client=self.s3_client(locations),
            message_interval=self.message_interval_s,
            poll_initial=self.poll_initial_s,
            poll_max=self.poll_max_s,
            hourly_usd=self.hourly_usd,
            **kwargs,
        )

    def launch(
        self,
        context: Any,
        stages: Sequence[str],
        spec: JobSpec,
        locations: StageLocations,
        *,
        settings: Mapping[str, Any] | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> Iterator[PipesExecutionResult | AssetObservation]:
        if not locations.root.startswith("s3://"):
            raise StageFailure("?", f"the SageMaker launcher needs an s3:// storage root, got {locations.root!r}")
        stages = ordered_stages(stages)
        store = locations.store()
        # Nothing stored is touched before the job ends: it publishes into its own staging prefix, and
        # only its complete stages replace the stored outputs (PipesSageMakerClient.promote).
        kept_where = {
            s: store.uri_of(f"{s}/{spec.uuid}") for s in stages if store.exists(f"{s}/{spec.uuid}/metrics.json")
        }
        client = self.client(locations)
        results: list[PipesExecutionResult] = []
        failure: StageFailure | None = None
        try:
            for result in client.stream(
                context=context,
                spec=spec,
                stages=stages,
                extras=extras,
                media_uri=locations.media if "frames" in stages else None,
                engine_settings={**self.settings, **(settings or {})},
            ):
                if isinstance(result, AssetObservation):  # progress: on to the event log now
                    yield result
                else:
                    results.append(result)
        except SageMakerJobFailed as exc:
            metadata = {k: v for k, v in exc.metadata.items() if k != "sagemaker/console_url"}
            failure = StageFailure(exc.stage or "?", str(exc), metadata=metadata)
            failure.__cause__ = exc
        partition = context.partition_key if context.has_partition_key else None
        complete = {stage: (metrics, None) for stage, metrics in client.promoted.items()}
        settled = settle_results(stages, results, complete, partition=partition, kept_where=kept_where)
        yield from settled.events
        if failure is not None and all(s in settled.kept for s in stages):
            context.log.warning(f"every stage of the job finished and is kept, despite: {failure}")
            failure = None
        if failure is not None:
            raise with_kept_note(failure, {s: u for s, u in kept_where.items() if s not in settled.kept})
