"""Run-status sensors: when a run of a job starts, succeeds, fails or is canceled, update the job's record
(status, start/end/elapsed, output URIs, quality metrics, error summary) and, for the end of a run,
send a notice saying where the results are and how good they are."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

from gs_dagster.messages import run_notice
from resources.job_table import JobTableResource, RunOutcome
from resources.notifier import NotifierResource

STAGES = ("frames", "masks", "sparse_model", "splat", "spz")
#: Headline figures copied from the latest materializations into the record and the notice.
METRIC_NAMES = (
    "frame_count",
    "registered_images",
    "input_images",
    "registered_ratio",
    "psnr",
    "num_gaussians",
    "spz_bytes",
    "ply_bytes",
)
STATUS_OF = {
    DagsterRunStatus.STARTED: "RUNNING",
    DagsterRunStatus.SUCCESS: "COMPLETE",
    DagsterRunStatus.FAILURE: "FAILED",
    DagsterRunStatus.CANCELED: "CANCELED",
}


def _iso(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds") if timestamp else ""


def job_uuid_of_run(run: dg.DagsterRun) -> str | None:
    """The job partition of a run of our assets, or None for runs that are not about a job."""
    partition = run.tags.get("dagster/partition")
    if not partition:
        return None
    keys = {k.to_user_string() for k in (run.asset_selection or ())}
    if keys and not keys & set(STAGES):
        return None
    return partition


#: Materialization metadata of the delivered files -> their name in the record's outputs ("sparse": the
#: COLMAP model folder a job with training off delivers).
DELIVERED = {"delivered_ply": ".ply", "delivered_spz": ".spz", "delivered_sparse": "sparse"}


def _scalar(value: Any) -> Any:
    return getattr(value, "value", value)


def latest_figures(instance: dg.DagsterInstance, uuid: str) -> tuple[dict[str, float], dict[str, str]]:
    """Headline metrics and output locations from the latest materialization of each stage of the job."""
    metrics: dict[str, float] = {}
    outputs: dict[str, str] = {}
    for stage in STAGES:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=[uuid]), limit=1
        ).records
        if not records:
            continue
        metadata = records[0].asset_materialization.metadata if records[0].asset_materialization else {}
        for name in METRIC_NAMES:
            value = _scalar(metadata.get(name))
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[name] = value
        if "location" in metadata:
            outputs[stage] = str(_scalar(metadata["location"]))
        for name, output in DELIVERED.items():
            delivered = metadata.get(name)
            if delivered is not None:
                outputs[output] = str(_scalar(delivered))
    return metrics, outputs


def stages_materialized(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    found = {
        r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records if r.event_log_entry.dagster_event
    }
    return [s for s in STAGES if s in found]


def failure_summary(instance: dg.DagsterInstance, run_id: str, fallback: str = "") -> str:
    """The stage's own failure message(s), not the generic 'run failed'."""
    lines: list[str] = []
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event else None
        if data is None:
            continue
        text = ""
        if data.user_failure_data and data.user_failure_data.description:
            text = data.user_failure_data.description
        elif data.error:
            text = data.error.message.strip()
        if text and text not in lines:
            lines.append(text)
    summary = "\n".join(lines) or fallback
    return summary[:4000]


def outcome_of(instance: dg.DagsterInstance, run: dg.DagsterRun, status: str, fallback_error: str = "") -> RunOutcome:
    record = instance.get_run_record_by_id(run.run_id)
    start = record.start_time if record else None
    end = record.end_time if record and status != "RUNNING" else None
    if status == "RUNNING":
        return RunOutcome(run_id=run.run_id, status=status, started_at=_iso(start))
    uuid = job_uuid_of_run(run) or ""
    metrics, outputs = latest_figures(instance, uuid)
    return RunOutcome(
        run_id=run.run_id,
        status=status,
        started_at=_iso(start),
        ended_at=_iso(end) or datetime.now(UTC).isoformat(timespec="milliseconds"),
        elapsed_s=round(end - start, 3) if start and end else None,
        stages=stages_materialized(instance, run.run_id),
        outputs=outputs,
        metrics=metrics,
        error="" if status == "COMPLETE" else failure_summary(instance, run.run_id, fallback_error),
    )


def handle_run_event(
    context: dg.RunStatusSensorContext,
    status: str,
    job_table: JobTableResource,
    notifier: NotifierResource,
) -> str:
    run = context.dagster_run
    uuid = job_uuid_of_run(run)
    if uuid is None:
        return f"run {run.run_id} is not about a job partition"
    table = job_table.table()
    if table.get(uuid) is None:
        context.log.warning(f"run {run.run_id}: job {uuid} has no record in the job table")
        return f"no record for {uuid}"
    fallback = (context.dagster_event.message or "") if context.dagster_event else ""
    outcome = outcome_of(context.instance, run, status, fallback)
    if not table.record_run(uuid, outcome):
        context.log.info(f"run {run.run_id}: a newer run of job {uuid} already reported; record left as is")
        return "stale"
    if status != "RUNNING":
        notifier.notify(run_notice(uuid, outcome, dagster_url=notifier.dagster_url), context.log)
    return f"job {uuid}: {status}"


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


job_started_sensor = _sensor(DagsterRunStatus.STARTED, "job_started", "Marks the job RUNNING in the job table.")
job_succeeded_sensor = _sensor(
    DagsterRunStatus.SUCCESS, "job_succeeded", "Records COMPLETE with outputs and metrics; notifies."
)
job_failed_sensor = _sensor(DagsterRunStatus.FAILURE, "job_failed", "Records FAILED with the error; notifies.")
job_canceled_sensor = _sensor(DagsterRunStatus.CANCELED, "job_canceled", "Records CANCELED; notifies.")

RUN_STATUS_SENSORS = [job_started_sensor, job_succeeded_sensor, job_failed_sensor, job_canceled_sensor]
