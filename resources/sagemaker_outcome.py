"""What a finished SageMaker training job says and leaves: its failure (SageMakerJobFailed, with
SageMaker's FailureReason and the stage that failed), its identity, billable seconds and estimated cost as
Dagster metadata (also on the results it reported), and the stages it published completely, promoted from
its staging prefix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetCheckResult, MaterializeResult, MetadataValue, PipesExecutionResult

from gs_dagster.resources.sagemaker_request import estimate_cost_usd
from gs_dagster.resources.stage_outputs import promote_prefix, stored_marker
from gs_dagster.resources.storage import S3Store
from gs_stages import sagemaker_contract as contract
from gs_stages.report import FAILED_EVENT


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


def console_url(region: str, job_name: str) -> str:
    """The training job's page in the AWS console."""
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{job_name}"


def job_metadata(
    description: Mapping[str, Any], region: str, hourly_usd: Mapping[str, float], arn: str | None = None
) -> dict[str, Any]:
    """Job identity from describe_training_job, and once it ended its billable seconds and an estimated cost."""
    name = description["TrainingJobName"]
    instance = (description.get("ResourceConfig") or {}).get("InstanceType")
    billable = description.get("BillableTimeInSeconds")
    metadata: dict[str, Any] = {
        "sagemaker/job_name": name,
        "sagemaker/job_arn": arn or description.get("TrainingJobArn"),
        "sagemaker/console_url": MetadataValue.url(console_url(region, name)),
        "sagemaker/instance_type": instance,
        "sagemaker/spot": bool(description.get("EnableManagedSpotTraining")),
        "sagemaker/billable_seconds": billable,
        "sagemaker/training_seconds": description.get("TrainingTimeInSeconds"),
        "sagemaker/cost_usd_estimate": estimate_cost_usd(instance or "", billable, hourly_usd),
    }
    return {k: v for k, v in metadata.items() if v is not None}


def promote_published(
    store: S3Store, staging: str, uuid: str, stages: Sequence[str], job_name: str, log: Any
) -> dict[str, dict[str, Any]]:
    """Move each stage the job published completely (its marker, written after its checks passed) from
    the job's `staging` prefix to the storage root, in order, whatever the job's end; drop the rest.
    Until then the stored outputs are untouched (a failed, stopped or interrupted job leaves them).
    Returns the promoted stages' metrics."""
    promoted: dict[str, dict[str, Any]] = {}
    for stage in stages:
        staged = f"{staging}/{stage}/{uuid}"
        if not stored_marker(store, staged) or store.head(f"{staged}/{contract.MARKER}") is None:
            break
        metrics = json.loads(store.read_bytes(f"{staged}/{contract.MARKER}")).get("metrics") or {}
        count = promote_prefix(store, staged, f"{stage}/{uuid}")
        log.info(f"stage {stage}: {count} file(s) of training job {job_name} now in {store.uri_of(stage)}/{uuid}")
        promoted[stage] = metrics
    store.delete_prefix(staging)
    return promoted


def raise_unless_completed(
    job_name: str, description: Mapping[str, Any], metadata: Mapping[str, Any], messages: Sequence[Any], log: Any
) -> None:
    """Log a completed job's billable seconds and cost; raise SageMakerJobFailed for any other end, naming the
    stage whose failure the container reported in its Pipes custom `messages` (the last one)."""
    status = description.get("TrainingJobStatus", "Unknown")
    if status == "Completed":
        log.info(
            f"SageMaker training job {job_name} completed: {metadata.get('sagemaker/billable_seconds')} "
            f"billable seconds, about ${metadata.get('sagemaker/cost_usd_estimate')}"
        )
        return
    failed = [m.get("stage") for m in messages if isinstance(m, dict) and m.get("event") == FAILED_EVENT]
    failure = SageMakerJobFailed(
        job_name,
        status,
        description.get("FailureReason"),
        description.get("SecondaryStatus"),
        metadata,
        stage=failed[-1] if failed else None,
    )
    log.error(str(failure))
    raise failure


def with_metadata(result: PipesExecutionResult, metadata: Mapping[str, Any]) -> PipesExecutionResult:
    """A reported materialization or check result with the job's `metadata` added to its own."""
    if not metadata or not isinstance(result, MaterializeResult | AssetCheckResult):
        return result
    return result._replace(metadata={**(result.metadata or {}), **metadata})
