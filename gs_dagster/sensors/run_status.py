"""Run-status sensors: when a run of a job starts, succeeds, fails or is canceled, update the job's record
(status, start/end/elapsed, output URIs, quality metrics, error summary) and, for the end of a run,
send one notice saying where the results are and how good they are.

Every run of a job counts, however it was launched (intake sensor, launchpad, job or asset backfill:
gs_dagster.sensors.run_outcome.job_uuids_of_run), and gets the job's tags when it starts (`gs/uuid`,
`gs/name`), so the runs list shows which job it is.

The sensors tick independently, so each write is safe in any order: a run's start never overwrites that
run's end (the job table refuses it), an older run never overwrites a newer one, and a run's end notice
is claimed in the record once (`notified_runs`) and sent whether or not a newer run has started since.
Dagster moves a run-status sensor's cursor past an event even when handling it fails, so a failure
here (the job table's disk full, SNS unreachable) is logged in one line and left to the
`job_record_sweep` sensor, which settles every ended run whose notice has not gone out yet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster import DagsterRunStatus

from gs_dagster.messages import run_notice
from gs_dagster.partitions import NAME_TAG, UUID_TAG
from gs_dagster.resources.job_table import JobRecord, JobTable, JobTableError, JobTableResource
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.sensors.run_outcome import job_uuids_of_run, outcome_of

STATUS_OF = {
    DagsterRunStatus.STARTED: "RUNNING",
    DagsterRunStatus.SUCCESS: "COMPLETE",
    DagsterRunStatus.FAILURE: "FAILED",
    DagsterRunStatus.CANCELED: "CANCELED",
}
ENDED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
SWEEP = "job_record_sweep"
#: The sweep leaves a run this long to its run-status sensor before settling it itself.
SWEEP_GRACE_S = 60.0


def job_tags(record: JobRecord) -> dict[str, str]:
    return {UUID_TAG: record.uuid, NAME_TAG: record.name[:200]}


def _tag(instance: dg.DagsterInstance, run: dg.DagsterRun, records: list[JobRecord]) -> None:
    """Add the job's tags to a run that lacks them (launchpad and backfill runs)."""
    names = ", ".join(r.name for r in records)[:200]
    tags = job_tags(records[0]) if len(records) == 1 else {NAME_TAG: names}
    missing = {k: v for k, v in tags.items() if run.tags.get(k) != v}
    if missing:
        instance.add_run_tags(run.run_id, missing)


def _max_steps(record: JobRecord, run: dg.DagsterRun) -> int | None:
    """The training steps the run used: its run config's override, else the job's spec."""
    config = (run.run_config or {}).get("ops", {}).get("reconstruction", {}).get("config", {})
    try:
        override = (config.get("overrides") or {}).get("training.maxSteps")
        if override is not None:
            return int(override)
        return int(json.loads(record.spec)["training"]["maxSteps"]) if record.spec else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def settle_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    status: str,
    table: JobTable,
    notifier: NotifierResource,
    log: Any,
    fallback_error: str = "",
) -> list[str]:
    """Record what `run` says (`status`) for each of its jobs and, for its end, send each job's notice once.
    Returns what was done, one line per job. Raises JobTableError or the notifier's error; nothing that
    was not written is marked as done, so calling this again completes it."""
    uuids = job_uuids_of_run(instance, run)
    if not uuids:
        return [f"run {run.run_id} is not about a job partition"]
    records = table.get_many(uuids)
    missing = [u for u in uuids if u not in records]
    for uuid in missing:
        log.warning(f"run {run.run_id}: job {uuid} has no record in the job table")
    found = [records[u] for u in uuids if u in records]
    if status == "RUNNING" and found:
        _tag(instance, run, found)
    done = []
    for record in found:
        outcome = outcome_of(instance, run, record.uuid, status, fallback_error)
        written = table.record_run(record.uuid, outcome)
        if status == "RUNNING":
            done.append(f"job {record.uuid}: RUNNING" if written else f"job {record.uuid}: start not recorded")
            continue
        if not table.claim_notice(record.uuid, run.run_id):
            done.append(f"job {record.uuid}: {status} already notified")
            continue
        current = table.get(record.uuid)
        newer = current.run_id if current and current.run_id != run.run_id else ""
        notice = run_notice(
            record.uuid,
            outcome,
            dagster_url=notifier.dagster_url,
            name=record.name,
            newer_run=newer,
            max_steps=_max_steps(record, run),
        )
        try:
            notifier.notify(notice, log)
        except Exception:
            table.release_notice(record.uuid, run.run_id)  # sent by the next attempt instead
            raise
        done.append(f"job {record.uuid}: {status}" + ("" if written else f" (record follows newer run {newer})"))
    return done


def handle_run_event(
    context: dg.RunStatusSensorContext, status: str, job_table: JobTableResource, notifier: NotifierResource
) -> str:
    fallback = (context.dagster_event.message or "") if context.dagster_event else ""
    try:
        return "; ".join(
            settle_run(
                context.instance, context.dagster_run, status, job_table.table(), notifier, context.log, fallback
            )
        )
    except JobTableError as exc:
        context.log.error(f"run {context.dagster_run.run_id} ({status}) not recorded yet ({SWEEP} retries): {exc}")
    except Exception as exc:  # the notice could not be sent (SNS down): the record is kept, the sweep resends
        context.log.error(f"run {context.dagster_run.run_id} ({status}): notice not sent yet ({SWEEP} retries): {exc}")
    return f"left to {SWEEP}"


def _sensor(run_status: DagsterRunStatus, name: str, description: str) -> dg.RunStatusSensorDefinition:
    status = STATUS_OF[run_status]

    @dg.run_status_sensor(
        run_status=run_status,
        name=name,
        description=description,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
    )
    def _job_run_sensor(
        context: dg.RunStatusSensorContext,
        job_table: JobTableResource,
        notifier: NotifierResource,
    ) -> None:
        handle_run_event(context, status, job_table, notifier)

    return _job_run_sensor


job_started_sensor = _sensor(
    DagsterRunStatus.STARTED, "job_started", "Marks the job RUNNING in the job table; tags the run with the job."
)
job_succeeded_sensor = _sensor(
    DagsterRunStatus.SUCCESS, "job_succeeded", "Records COMPLETE with outputs and metrics; notifies."
)
job_failed_sensor = _sensor(DagsterRunStatus.FAILURE, "job_failed", "Records FAILED with the error; notifies.")
job_canceled_sensor = _sensor(DagsterRunStatus.CANCELED, "job_canceled", "Records CANCELED; notifies.")


def _settle_unless_notified(
    instance: dg.DagsterInstance, run: dg.DagsterRun, table: JobTable, notifier: NotifierResource, log: Any
) -> list[str]:
    """Settle an ended run unless every job it is about has had its notice (nothing to do: [])."""
    uuids = job_uuids_of_run(instance, run)
    jobs = table.get_many(uuids, fields=("notified_runs",)) if uuids else {}
    if all(run.run_id in j.notified_runs for j in jobs.values()):
        return []
    return settle_run(instance, run, STATUS_OF[run.status], table, notifier, log)


def sweep(
    instance: dg.DagsterInstance,
    table: JobTable,
    notifier: NotifierResource,
    log: Any,
    cursor: str | None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """Settle ended runs (oldest update first) whose notice has not gone out; returns (cursor, summary).
    The cursor is the update time up to which every ended run is settled; a failure stops there."""
    now = now or datetime.now(UTC)
    if not cursor:
        return now.isoformat(), "started: settles runs that end from now on"
    after = datetime.fromisoformat(cursor)
    records = instance.get_run_records(
        dg.RunsFilter(statuses=list(ENDED), updated_after=after - timedelta(seconds=1)),
        order_by="update_timestamp",
        ascending=True,
        limit=200,
    )
    settled = 0
    for record in records:
        stamp = record.update_timestamp
        updated = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        if (now - updated).total_seconds() < SWEEP_GRACE_S:
            break  # the run-status sensor has it first
        run = record.dagster_run
        try:
            done = _settle_unless_notified(instance, run, table, notifier, log)
        except Exception as exc:
            log.error(f"job_record_sweep: run {run.run_id} not settled yet, next tick retries: {exc}")
            return after.isoformat(), f"settled {settled}; stopped at run {run.run_id}: {exc}"
        if done:
            settled += 1
            log.info(f"job_record_sweep: {'; '.join(done)}")
        after = max(after, updated)
    return after.isoformat(), f"settled {settled} run(s) the run-status sensors had left"


@dg.sensor(
    name=SWEEP,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records and notifies ended runs of jobs that the run-status sensors could not (e.g. disk full).",
)
def job_record_sweep(
    context: dg.SensorEvaluationContext, job_table: JobTableResource, notifier: NotifierResource
) -> dg.SkipReason:
    try:
        table = job_table.table()
    except JobTableError as exc:
        context.log.error(f"job_record_sweep: {exc}")
        return dg.SkipReason(str(exc))
    cursor, summary = sweep(context.instance, table, notifier, context.log, context.cursor)
    context.update_cursor(cursor)
    return dg.SkipReason(summary)


RUN_STATUS_SENSORS = [
    job_started_sensor,
    job_succeeded_sensor,
    job_failed_sensor,
    job_canceled_sensor,
    job_record_sweep,
]
