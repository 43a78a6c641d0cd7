"""Orphaned SageMaker training jobs: stop GPU jobs whose Dagster run is no longer there to read them.

A step that is interrupted stops its own training job (PipesSageMakerClient). A run worker that dies
hard (OOM kill, SIGKILL, a lost node) cannot: its training job keeps running and billing, nobody reads
its output, and run monitoring marks the run FAILURE. This sensor finds those jobs and stops them.

A job is ours when its name starts with the launcher's `job_name_prefix` and it carries both tags the
launcher sets (`dagster/run-id`, `gs/job-uuid`); anything else is left alone. An InProgress job of ours
is stopped when its run has finished (SUCCESS, FAILURE, CANCELED), or, after a grace period, when this
Dagster instance has no run with that id (deleted, or not yet visible when the job was created seconds
ago). A run that is queued, starting, started or canceling keeps its job. Each stop is logged by the
tick, recorded as an engine event on the run, listed in the cursor, and noted in the job's record
once the run-status sensors have recorded the run's end (before that, the note waits in the cursor).
"""

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
from botocore.exceptions import ClientError

from gs_dagster.resources.job_table import TERMINAL, JobTable, JobTableResource, utc_now
from gs_dagster.resources.sagemaker import SageMakerLauncher
from gs_dagster.resources.sagemaker_request import JOB_UUID_TAG, RUN_ID_TAG

SENSOR_NAME = "orphaned_training_jobs"
#: How long a pending job-table note is retried before it is dropped (the stop itself is not retried
#: from the cursor: a job that is still InProgress is simply found again by the next tick).
NOTE_TTL_S = 24 * 3600
MAX_CURSOR_ENTRIES = 100
LIST_PAGE_SIZE = 100  # ListTrainingJobs' maximum MaxResults
MAX_ERROR_CHARS = 4000  # what the run-status sensors keep of a run's error, too


def _env_flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class OrphanSweepSettings:
    """Read from GS_SAGEMAKER_ORPHAN_* (they travel with the other GS_SAGEMAKER_* variables)."""

    interval_s: int = 300
    grace_s: float = 900.0  # a job whose run id is unknown is left alone this long after its creation
    stop_unknown_runs: bool = True  # off: only report jobs whose run this instance does not know

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "OrphanSweepSettings":
        def number(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None

        return cls(
            interval_s=int(number("GS_SAGEMAKER_ORPHAN_INTERVAL_S", cls.interval_s)),
            grace_s=number("GS_SAGEMAKER_ORPHAN_GRACE_S", cls.grace_s),
            stop_unknown_runs=_env_flag(env.get("GS_SAGEMAKER_ORPHAN_STOP_UNKNOWN"), cls.stop_unknown_runs),
        )


@dataclass(frozen=True)
class StoppedJob:
    job_name: str
    run_id: str
    job_uuid: str
    reason: str
    at: str


@dataclass
class SweepReport:
    stopped: list[StoppedJob] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # job name -> why it keeps running
    errors: dict[str, str] = field(default_factory=dict)  # job name -> what failed (retried next tick)

    def summary(self) -> str:
        parts = [f"stopped {len(self.stopped)} orphaned training job(s)"]
        if self.stopped:
            parts[0] += ": " + ", ".join(s.job_name for s in self.stopped)
        parts.append(f"{len(self.kept)} in progress left running")
        if self.errors:
            parts.append(f"{len(self.errors)} error(s): " + "; ".join(f"{k}: {v}" for k, v in self.errors.items()))
        return "; ".join(parts)


def in_progress_jobs(sagemaker: Any, prefix: str) -> Iterator[dict[str, Any]]:
    """InProgress training jobs named `<prefix>-*`, every page (NameContains is a substring match)."""
    paginator = sagemaker.get_paginator("list_training_jobs")
    for page in paginator.paginate(StatusEquals="InProgress", NameContains=f"{prefix}-", MaxResults=LIST_PAGE_SIZE):
        for summary in page.get("TrainingJobSummaries", []):
            if summary["TrainingJobName"].startswith(f"{prefix}-"):
                yield summary


def job_tags(sagemaker: Any, arn: str) -> dict[str, str]:
    """The job's tags (DescribeTrainingJob does not return them)."""
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags


def _age_s(created: Any, now: float) -> float:
    if isinstance(created, datetime):
        return now - created.timestamp()
    return now - float(created)


def stop_reason(
    run: dg.DagsterRun | None, run_id: str, age_s: float, settings: OrphanSweepSettings
) -> tuple[str | None, str]:
    """(why to stop, None to keep) and a word on the decision; the run is looked up by the caller."""
    if run is None:
        if age_s < settings.grace_s:
            return None, f"run {run_id} not found yet; job is {age_s:.0f} s old (grace {settings.grace_s:.0f} s)"
        if not settings.stop_unknown_runs:
            return None, f"run {run_id} is not in this Dagster instance (GS_SAGEMAKER_ORPHAN_STOP_UNKNOWN=0)"
        return f"run {run_id} is not in this Dagster instance", ""
    if run.is_finished:
        return f"run {run_id} ended {run.status.value}", ""
    return None, f"run {run_id} is {run.status.value}"


def sweep(
    sagemaker: Any,
    instance: dg.DagsterInstance,
    *,
    prefix: str,
    settings: OrphanSweepSettings,
    now: float,
    log: Any,
) -> SweepReport:
    """Stop every InProgress job of ours whose run is gone; the run is read right before each stop."""
    report = SweepReport()
    for summary in in_progress_jobs(sagemaker, prefix):
        name = summary["TrainingJobName"]
        try:
            tags = job_tags(sagemaker, summary["TrainingJobArn"])
        except ClientError as exc:
            report.errors[name] = f"list_tags: {exc}"
            continue
        run_id, job_uuid = tags.get(RUN_ID_TAG), tags.get(JOB_UUID_TAG)
        if not run_id or not job_uuid:
            continue  # not launched by gs-dagster: never ours to stop
        run = instance.get_run_by_id(run_id)
        reason, why_kept = stop_reason(run, run_id, _age_s(summary["CreationTime"], now), settings)
        if reason is None:
            report.kept[name] = why_kept
            continue
        try:
            sagemaker.stop_training_job(TrainingJobName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                log.info(f"SageMaker training job {name} was already ending: {exc}")  # ended since the listing
            else:
                report.errors[name] = f"stop_training_job: {exc}"
            continue
        stopped = StoppedJob(name, run_id, job_uuid, reason, utc_now())
        report.stopped.append(stopped)
        message = f"stopped orphaned SageMaker training job {name} (job {job_uuid}): {reason}"
        log.warning(message)
        if run is not None:
            instance.report_engine_event(f"{SENSOR_NAME}: {message}", dagster_run=run)
    return report


def note_text(stopped: Mapping[str, str]) -> str:
    return (
        f"SageMaker training job {stopped['job_name']} was still running after {stopped['reason']}; "
        f"stopped by the {SENSOR_NAME} sensor at {stopped['at']}."
    )


def write_note(table: JobTable, stopped: Mapping[str, str]) -> bool | None:
    """Append the stop to the record's error once the run's end is recorded there.

    True: written (or already there). None: not yet (the run-status sensor has not recorded this run's
    end; writing now would be overwritten by it). False: the record belongs to another run, or is gone.
    """
    record = table.get(stopped["job_uuid"])
    if record is None:
        return False
    text = note_text(stopped)
    if text in record.error:
        return True
    if record.run_id != stopped["run_id"] or record.status not in TERMINAL:
        return None
    error = f"{record.error[: MAX_ERROR_CHARS - len(text) - 1]}\n{text}" if record.error else text
    # Conditional on what was read, so a concurrent write by the run-status sensor is never lost.
    return table.replace_error(record, error) or None


@dataclass
class OrphanCursor:
    """Recent stops (for the operator reading the cursor) and job-table notes still to write."""

    stopped: list[dict[str, str]] = field(default_factory=list)
    pending_notes: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> "OrphanCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(stopped=list(data.get("stopped", [])), pending_notes=list(data.get("pending_notes", [])))

    def dump(self) -> str:
        return json.dumps(
            {"stopped": self.stopped[-MAX_CURSOR_ENTRIES:], "pending_notes": self.pending_notes[-MAX_CURSOR_ENTRIES:]}
        )


def flush_notes(table: JobTable, pending: list[dict[str, str]], now: float, log: Any) -> list[dict[str, str]]:
    """Write the notes that can be written now; returns those still waiting (dropped after NOTE_TTL_S)."""
    waiting = []
    for stopped in pending:
        done = write_note(table, stopped)
        if done:
            log.info(f"job {stopped['job_uuid']}: noted the stop of {stopped['job_name']} in the job table")
        elif done is None and now - datetime.fromisoformat(stopped["at"]).timestamp() < NOTE_TTL_S:
            waiting.append(stopped)
        elif done is None:
            log.warning(f"job {stopped['job_uuid']}: gave up noting the stop of {stopped['job_name']}")
    return waiting


def build_orphan_jobs_sensor(
    settings: OrphanSweepSettings | None = None, clock: Callable[[], float] = time.time
) -> dg.SensorDefinition:
    """The sweeper; registered only with the SageMaker launcher (`launcher` is a SageMakerLauncher)."""
    settings = settings or OrphanSweepSettings()

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=settings.interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Stops gs-dagster SageMaker training jobs whose Dagster run has ended or is gone.",
    )
    def orphaned_training_jobs(
        context: dg.SensorEvaluationContext, launcher: SageMakerLauncher, job_table: JobTableResource
    ) -> dg.SkipReason:
        cursor = OrphanCursor.parse(context.cursor)
        report = sweep(
            launcher.sagemaker_client(),
            context.instance,
            prefix=launcher.job_name_prefix,
            settings=settings,
            now=clock(),
            log=context.log,
        )
        stopped = [asdict(s) for s in report.stopped]
        cursor.stopped.extend(stopped)
        cursor.pending_notes = flush_notes(job_table.table(), [*cursor.pending_notes, *stopped], clock(), context.log)
        context.update_cursor(cursor.dump())
        for name, error in report.errors.items():
            context.log.error(f"SageMaker training job {name}: {error}")
        summary = report.summary()
        context.log.info(summary)
        return dg.SkipReason(summary)

    return orphaned_training_jobs


def orphan_sensors(launcher_kind: str, sagemaker_env: Mapping[str, str]) -> list[dg.SensorDefinition]:
    """The sweeper when the SageMaker launcher is configured, nothing otherwise."""
    if launcher_kind != "sagemaker":
        return []
    return [build_orphan_jobs_sensor(OrphanSweepSettings.from_env(sagemaker_env))]
