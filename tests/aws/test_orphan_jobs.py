"""The orphaned-training-job sweeper against the moto server (real HTTP), with a real Dagster instance.

What moto 5.2.5 lacks, and how these tests stand in for it (the sweeper's calls still go over HTTP):
- CreateTrainingJob records every job as `Completed` at once: each job is set `InProgress` in moto's
  in-process backend right after it is created (the server runs in this process, tests/conftest.py).
- StopTrainingJob is not implemented (moto answers HTTP 500, NotImplementedError): the test adds the
  action to moto's SageMaker response handler for the test's duration, doing what SageMaker does
  (InProgress -> Stopping; ValidationException for a job that is not InProgress).
ListTrainingJobs (StatusEquals, NameContains, NextToken) and ListTags are moto's own.
"""

import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from gs_dagster.config import GsConfig
from gs_dagster.definitions import build_definitions
from gs_dagster.resources.job_table import JobRecord, JobTableResource, RunOutcome
from gs_dagster.resources.sagemaker import SageMakerLauncher
from gs_dagster.resources.sagemaker_request import SageMakerSettings, build_create_training_job_request
from gs_dagster.sensors import orphan_jobs
from gs_dagster.sensors.orphan_jobs import SENSOR_NAME, OrphanCursor, OrphanSweepSettings, build_orphan_jobs_sensor

from .conftest import BUCKET, IMAGE, REGION, ROLE, ROOT_PREFIX, make_spec

GRACE_S = 600.0


@dataclass
class MotoSageMaker:
    """Moto's in-process SageMaker state, and the names StopTrainingJob was called with over HTTP."""

    backend: Any
    stopped: list[str]

    def status(self, name: str) -> str:
        return self.backend.training_jobs[name].training_job_status

    def set_status(self, name: str, status: str) -> None:
        self.backend.training_jobs[name].training_job_status = status
        self.backend.training_jobs[name].secondary_status = "Training" if status == "InProgress" else status


@pytest.fixture()
def moto_sagemaker(sagemaker_backend: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoSageMaker]:
    state = MotoSageMaker(sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION], [])

    def stop_training_job(self: SageMakerResponse) -> str:
        name = self._get_param("TrainingJobName")
        job = self.sagemaker_backend.training_jobs.get(name)
        if job is None or job.training_job_status != "InProgress":
            raise ValidationError(message=f"The training job {name} is not InProgress.")
        job.training_job_status = job.secondary_status = "Stopping"
        state.stopped.append(name)
        return "{}"

    monkeypatch.setattr(SageMakerResponse, "stop_training_job", stop_training_job, raising=False)
    before = set(state.backend.training_jobs)
    yield state
    for name in set(state.backend.training_jobs) - before:  # later tests list no InProgress job of ours
        if state.status(name) in ("InProgress", "Stopping"):
            state.set_status(name, "Stopped")


@dg.op
def _noop() -> None:
    pass


@dg.job(name="reconstruct")
def _reconstruct() -> None:
    _noop()


def _run(instance: dg.DagsterInstance, uuid: str, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    # A queued run must name where its job comes from (the daemon launches it from there).
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__)), "repo"),
        _reconstruct.name,
    )
    return instance.create_run_for_job(
        _reconstruct, tags={"dagster/partition": uuid}, status=status, remote_job_origin=origin
    )


def _create_job(
    sagemaker: Any, moto: MotoSageMaker, prefix: str, run_id: str, uuid: str, *, tagged: bool = True
) -> str:
    """A training job as the launcher creates it (its request builder and tags), then InProgress."""
    settings = SageMakerSettings(
        image_uri=IMAGE, role_arn=ROLE, storage_root=f"s3://{BUCKET}/{ROOT_PREFIX}", job_name_prefix=prefix
    )
    name = f"{prefix}-{uuid}-a0"
    request = build_create_training_job_request(
        settings, make_spec(uuid), ["masks"], job_name=name, environment={}, run_id=run_id
    )
    if not tagged:
        request["Tags"] = [{"Key": "team", "Value": "someone-else"}]
    sagemaker.create_training_job(**request)
    moto.set_status(name, "InProgress")
    return name


def _resources(aws: dict[str, str], prefix: str) -> dict[str, Any]:
    """The sensor's resources: the launcher (its SageMaker client and job name prefix) and a fresh job table."""
    endpoint = aws["AWS_ENDPOINT_URL"]
    return {
        "launcher": SageMakerLauncher(
            image_uri=IMAGE, role_arn=ROLE, region=REGION, sagemaker_endpoint_url=endpoint, job_name_prefix=prefix
        ),
        "job_table": JobTableResource(
            url=f"dynamodb://gs-orphans-{uuidlib.uuid4().hex[:8]}", endpoint_url=endpoint, region=REGION
        ),
    }


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None, resources: dict) -> Any:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor.evaluate_tick(context)


def test_sweeper_stops_only_jobs_whose_run_is_gone(
    aws, sagemaker_backend, moto_sagemaker: MotoSageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orphan_jobs, "LIST_PAGE_SIZE", 2)  # the listing takes several pages (NextToken)
    prefix = f"t{uuidlib.uuid4().hex[:6]}"
    instance = dg.DagsterInstance.ephemeral()
    uuids = {case: f"{case}-{uuidlib.uuid4().hex[:8]}" for case in "abcdeqs"}

    failed = _run(instance, uuids["a"], dg.DagsterRunStatus.STARTED)
    instance.report_run_failed(failed)  # the worker died; run monitoring marked the run failed
    running = _run(instance, uuids["b"], dg.DagsterRunStatus.STARTED)
    queued = _run(instance, uuids["q"], dg.DagsterRunStatus.QUEUED)
    starting = _run(instance, uuids["s"], dg.DagsterRunStatus.STARTING)
    unknown_run_id = str(uuidlib.uuid4())
    assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE

    args = (sagemaker_backend, moto_sagemaker, prefix)
    job_a = _create_job(*args, failed.run_id, uuids["a"])  # (a) run failed: orphan
    job_b = _create_job(*args, running.run_id, uuids["b"])  # (b) run still STARTED
    job_q = _create_job(*args, queued.run_id, uuids["q"])  # (b) run QUEUED
    job_s = _create_job(*args, starting.run_id, uuids["s"])  # (b) run STARTING
    job_c = _create_job(*args, failed.run_id, uuids["c"], tagged=False)  # (c) our prefix, not our tags
    job_e = _create_job(sagemaker_backend, moto_sagemaker, f"x{prefix}", failed.run_id, uuids["e"])  # (c) other prefix
    job_d = _create_job(*args, unknown_run_id, uuids["d"])  # (d) run unknown to this instance, just created
    ours = [job_a, job_b, job_q, job_s, job_c, job_e, job_d]

    # The job table: the run-status sensor has seen (a) start but not yet fail.
    resources = _resources(aws, prefix)
    table = resources["job_table"].table()
    table.create(JobRecord(uuid=uuids["a"], status="RUNNING", run_id=failed.run_id, spec="{}"))

    now = [time.time()]
    sensor = build_orphan_jobs_sensor(OrphanSweepSettings(grace_s=GRACE_S), clock=lambda: now[0])

    # Tick 1: only (a) is stopped; (d) is within the grace period.
    first = _tick(sensor, instance, None, resources)
    assert moto_sagemaker.stopped == [job_a]
    statuses = {
        name: sagemaker_backend.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] for name in ours
    }
    assert statuses == {job_a: "Stopping", **{n: "InProgress" for n in ours if n != job_a}}
    assert "stopped 1 orphaned training job(s): " + job_a in first.skip_message
    cursor = OrphanCursor.parse(first.cursor)
    assert [(s["job_name"], s["run_id"], s["job_uuid"]) for s in cursor.stopped] == [(job_a, failed.run_id, uuids["a"])]
    assert cursor.stopped[0]["reason"] == f"run {failed.run_id} ended FAILURE"
    assert [n["job_name"] for n in cursor.pending_notes] == [job_a]  # the record does not say FAILED yet
    assert table.get(uuids["a"]).error == ""
    events = [
        e.message for e in instance.all_logs(failed.run_id) if e.dagster_event and e.dagster_event.is_engine_event
    ]
    assert any(SENSOR_NAME in m and job_a in m for m in events)

    # The run-status sensor records the failure; the grace period of (d) runs out.
    table.record_run(uuids["a"], RunOutcome(run_id=failed.run_id, status="FAILED", error="run worker died"))
    now[0] += GRACE_S + 1
    second = _tick(sensor, instance, first.cursor, resources)
    assert moto_sagemaker.stopped == [job_a, job_d]
    statuses = {
        name: sagemaker_backend.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] for name in ours
    }
    assert statuses == {
        job_a: "Stopping",
        job_d: "Stopping",
        job_b: "InProgress",
        job_q: "InProgress",
        job_s: "InProgress",
        job_c: "InProgress",
        job_e: "InProgress",
    }
    cursor = OrphanCursor.parse(second.cursor)
    assert [s["job_name"] for s in cursor.stopped] == [job_a, job_d]
    assert cursor.stopped[1]["reason"] == f"run {unknown_run_id} is not in this Dagster instance"
    assert cursor.pending_notes == []  # (a) written; (d) has no record to note it in
    record = table.get(uuids["a"])
    assert record.status == "FAILED" and record.error.startswith("run worker died\n")
    assert f"SageMaker training job {job_a} was still running after run {failed.run_id} ended FAILURE" in record.error

    # Tick 3: nothing more to stop, the note is not repeated.
    third = _tick(sensor, instance, second.cursor, resources)
    assert moto_sagemaker.stopped == [job_a, job_d]
    assert "stopped 0 orphaned training job(s)" in third.skip_message
    assert table.get(uuids["a"]).error == record.error


def test_sweeper_only_reports_unknown_runs_when_told_to(aws, sagemaker_backend, moto_sagemaker: MotoSageMaker) -> None:
    prefix = f"t{uuidlib.uuid4().hex[:6]}"
    instance = dg.DagsterInstance.ephemeral()
    job = _create_job(sagemaker_backend, moto_sagemaker, prefix, str(uuidlib.uuid4()), "job-unknown")
    keep = build_orphan_jobs_sensor(OrphanSweepSettings(grace_s=0, stop_unknown_runs=False))
    result = _tick(keep, instance, None, _resources(aws, prefix))
    assert moto_sagemaker.stopped == [] and moto_sagemaker.status(job) == "InProgress"
    assert "1 in progress left running" in result.skip_message


def test_sweeper_is_registered_only_with_the_sagemaker_launcher(tmp_path) -> None:
    local = build_definitions(GsConfig.from_env({"GS_DATA_DIR": str(tmp_path)}))
    assert SENSOR_NAME not in {s.name for s in local.sensors}
    env = {
        "GS_DATA_DIR": str(tmp_path),
        "GS_BUCKET": f"s3://{BUCKET}",
        "GS_LAUNCHER": "sagemaker",
        "GS_SAGEMAKER_IMAGE_URI": IMAGE,
        "GS_SAGEMAKER_ROLE_ARN": ROLE,
        "GS_SAGEMAKER_ORPHAN_INTERVAL_S": "120",
    }
    aws_defs = build_definitions(GsConfig.from_env(env))
    dg.Definitions.validate_loadable(aws_defs)
    sensor = {s.name: s for s in aws_defs.sensors}[SENSOR_NAME]
    assert sensor.minimum_interval_seconds == 120
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.required_resource_keys == {"launcher", "job_table"}
    assert isinstance(aws_defs.resources["launcher"], SageMakerLauncher)
