"""The stage launcher for AWS: one SageMaker training job per launch, with Dagster Pipes over S3.

resources/sagemaker_request.py builds the CreateTrainingJob request, resources/sagemaker_client.py runs
the job (`PipesSageMakerClient`: Pipes bootstrap and messages through S3, describe polling, promotion of
the stages the job published completely); `SageMakerLauncher` turns what it reports into Dagster's
events (resources/stage_outputs.py). `gs_stages.sagemaker_entry` is the container side of this contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
from dagster import AssetObservation, PipesExecutionResult
from pydantic import Field

from gs_dagster.resources.launcher import StageFailure, StageLauncher, StageLocations, ordered_stages, with_kept_note
from gs_dagster.resources.sagemaker_client import PipesSageMakerClient, SageMakerJobFailed
from gs_dagster.resources.sagemaker_request import DEFAULT_HOURLY_USD, SageMakerSettings
from gs_dagster.resources.stage_outputs import settle_results
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec

#: The Dagster pool every asset that launches a GPU job declares (`pool=GPU_POOL`); its limit caps
#: concurrent GPU jobs (infra/dagster.yaml, or `dagster instance concurrency set gpu <n>`).
GPU_POOL = "gpu"


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
