"""Run stages of one job as a SageMaker training job, with Dagster Pipes over S3.

dagster-aws has Pipes clients for ECS, EMR, Glue and Lambda; this is the SageMaker one. One call of
`PipesSageMakerClient.run` (or `stream`) is one training job (one container start) that runs a chain
of stages:

* CreateTrainingJob with the request of resources/sagemaker_request.py.
* Pipes bootstrap through S3: the context as an S3 object (PipesS3ContextInjector), messages and the
  container's stdout/stderr as S3 chunks (PipesS3MessageReader). SageMaker caps every environment
  value at 512 characters, so both bootstrap values are checked before the job is created. CloudWatch
  is never polled (its API throttles per account).
* The job publishes stage outputs into its own staging prefix; once it has ended, the stages it
  published completely are promoted to `<root>/<stage>/<uuid>/` (`promote`), so the last good outputs
  stay in place while it runs, fails or is stopped.
* describe_training_job polled with exponential backoff and no overall cap; an interrupted step stops
  the training job (both `sagemaker_watch.py`); a failed job raises SageMakerJobFailed carrying its
  FailureReason; billable seconds and an estimated cost come back as metadata (`sagemaker_outcome.py`).

`gs_stages.sagemaker_entry` is the container side of this contract (its names: gs_stages/sagemaker_contract.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from dagster import (
    AssetObservation,
    DagsterExecutionInterruptedError,
    MaterializeResult,
    PipesClient,
    PipesClientCompletedInvocation,
    PipesExecutionResult,
    open_pipes_session,
)

# Private: no public API marks a client as a resource parameter (what the stock Pipes clients do themselves).
from dagster._core.definitions.resource_annotation import TreatAsResourceParam

from gs_dagster.resources.launcher import ordered_stages
from gs_dagster.resources.progress_relay import ProgressRelay
from gs_dagster.resources.sagemaker_outcome import (
    SageMakerJobFailed,
    console_url,
    job_metadata,
    promote_published,
    raise_unless_completed,
    with_metadata,
)
from gs_dagster.resources.sagemaker_pipes import pipes_io
from gs_dagster.resources.sagemaker_request import (
    DEFAULT_HOURLY_USD,
    SageMakerSettings,
    build_create_training_job_request,
    check_environment,
    training_job_name,
)
from gs_dagster.resources.sagemaker_watch import poll_training_job, stop_training_job
from gs_dagster.resources.stage_outputs import staging_prefix
from gs_dagster.resources.storage import S3Store
from gs_stages.jobspec import JobSpec

#: SageMakerJobFailed is imported from here by callers and tests.
__all__ = ["PipesSageMakerClient", "SageMakerJobFailed"]


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
                f"{', spot' if request.get('EnableManagedSpotTraining') else ''}): {self.console_url(job_name)}"
            )
            if on_job_created is not None:
                on_job_created(job_name)
            yield _LaunchedJob(session, job_name, response.get("TrainingJobArn"), request)

    def _poll(self, job_name: str, log: Any, tick: float | None = None) -> Iterator[dict[str, Any] | None]:
        """Each description until the job ends, with this client's backoff (`sagemaker_watch.poll_training_job`)."""
        return poll_training_job(
            self._sagemaker,
            job_name,
            log,
            initial=self.poll_initial,
            maximum=self.poll_max,
            factor=self.poll_factor,
            sleep=self._sleep,
            tick=tick,
        )

    def stop(self, job_name: str, log: Any) -> None:
        stop_training_job(self._sagemaker, job_name, log)

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
            yield with_metadata(result, metadata if isinstance(result, MaterializeResult) else identity)
        self._raise_unless_completed(job, description, context.log)

    def promote(self, spec: JobSpec, stages: Sequence[str], job_name: str, log: Any) -> dict[str, dict[str, Any]]:
        """Move each stage the job published completely (its marker, written after its checks passed) from
        the job's staging prefix to the storage root, in order, whatever the job's end; drop the rest.
        Until then the stored outputs are untouched (a failed, stopped or interrupted job leaves them)."""
        store = S3Store(self.settings.storage_root)
        store.client = self._s3
        self.promoted = promote_published(
            store, staging_prefix(job_name), spec.uuid, ordered_stages(stages), job_name, log
        )
        return self.promoted

    def _raise_unless_completed(self, job: _LaunchedJob, description: Mapping[str, Any], log: Any) -> None:
        metadata = self.job_metadata(description, job.arn)
        raise_unless_completed(job.name, description, metadata, job.session.get_custom_messages(), log)

    # -- results ----------------------------------------------------------------------------------------
    def console_url(self, job_name: str) -> str:
        return console_url(self._sagemaker.meta.region_name, job_name)

    def job_metadata(self, description: Mapping[str, Any], arn: str | None = None) -> dict[str, Any]:
        """Job identity, and once it ended its billable seconds and an estimated cost."""
        return job_metadata(description, self._sagemaker.meta.region_name, self.hourly_usd, arn)
