"""What a run says about its job(s), read from the Dagster instance: which jobs it is about (however it
was launched), when it started and ended, what it materialized, the headline figures and, when it did
not succeed, what went wrong in words (the stage's own message, or who canceled it and when)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from gs_dagster.assets.results import plain_location
from gs_dagster.assets.run_config import StageRunConfig
from gs_dagster.partitions import JOB_ASSETS, JOBS_PARTITION, PARTITION_TAG
from gs_dagster.resources.job_table import MAX_ERROR_BYTES, MAX_ERROR_LINES, RunOutcome
from gs_dagster.resources.text_bounds import bound_text

#: Run tags Dagster sets: one partition (sensor, launchpad, job backfill) or a range (asset backfills).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
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
#: What Dagster says when a cancel is requested without a reason (the UI's and the API's cancel).
_PLAIN_CANCEL_MESSAGES = ("", "Sending run termination request.")


def iso(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds") if timestamp else ""


def job_uuids_of_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The job partitions a run of our assets is about, however it was launched: `dagster/partition`
    (intake sensor, launchpad, job backfill) or a partition range (asset backfills: one key with the
    multi-run policy, several with a single-run one). Empty for runs that are not about a job."""
    keys = {k.to_user_string() for k in (run.asset_selection or ())}
    if keys and not keys & set(JOB_ASSETS):
        return []
    partition = run.tags.get(PARTITION_TAG)
    if partition:
        return [partition]
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if not start or not end:
        return []
    if start == end:
        return [start]
    known = list(instance.get_dynamic_partitions(JOBS_PARTITION))
    if start not in known or end not in known:  # a partition deleted since: the ends that still exist
        return [key for key in (start, end) if key in known]
    first, last = sorted((known.index(start), known.index(end)))
    return known[first : last + 1]


#: Materialization metadata of the delivered files -> their name in the record's outputs ("sparse": the
#: COLMAP model folder a job with training off delivers; ".glb": nerfacto's textured mesh).
DELIVERED = {
    "delivered_ply": ".ply",
    "delivered_spz": ".spz",
    "delivered_sog": ".sog",
    "delivered_mp4": ".mp4",
    "delivered_png": ".png",
    "delivered_cameras": "cameras",
    "delivered_glb": ".glb",
    "delivered_sparse": "sparse",
}


def _scalar(value: Any) -> Any:
    return getattr(value, "value", value)


def latest_figures(
    instance: dg.DagsterInstance, uuid: str, run_id: str | None = None
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Headline metrics and output locations from the latest materialization of each asset of the job, and the
    metrics that came from a run other than `run_id` (a stage that run did not materialize)."""
    metrics: dict[str, float] = {}
    outputs: dict[str, str] = {}
    sources: dict[str, str] = {}
    for stage in JOB_ASSETS:
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
                sources[name] = records[0].run_id
        if "location" in metadata:  # links in the metadata (file:// for a path); the record keeps the path
            outputs[stage] = plain_location(metadata["location"])
        for name, output in DELIVERED.items():
            delivered = metadata.get(name)
            if delivered is not None:
                outputs[output] = plain_location(delivered)
    earlier = sorted(name for name, source in sources.items() if run_id is not None and source != run_id)
    return metrics, outputs, earlier


def _events(instance: dg.DagsterInstance, run_id: str, event_type: DagsterEventType) -> list[Any]:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    return [r.event_log_entry for r in records if r.event_log_entry.dagster_event]


def stages_materialized(instance: dg.DagsterInstance, run_id: str, uuid: str) -> list[str]:
    found = {
        e.dagster_event.asset_key.to_user_string()
        for e in _events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION)
        if e.dagster_event.partition in (None, uuid)
    }
    return [s for s in JOB_ASSETS if s in found]


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """`stage:check` of the blocking checks that failed in the run (e.g. `splat:heldout_psnr`): check results
    Dagster recorded, and those of a failed attempt, which the launcher records as an observation of the
    stage (`failed_checks`) instead of a check result (resources/stage_outputs.py)."""
    failed = []
    for entry in _events(instance, run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.event_specific_data
        if data is not None and not data.passed and data.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    for entry in _events(instance, run_id, DagsterEventType.ASSET_OBSERVATION):
        observation = entry.dagster_event.event_specific_data.asset_observation
        checks = getattr(observation.metadata.get("failed_checks"), "value", None)
        if isinstance(checks, dict):
            stage = observation.asset_key.to_user_string()
            failed += [f"{stage}:{name}" for name in checks if f"{stage}:{name}" not in failed]
    return failed


def quality_warnings(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """`stage check: description` of each check of the run that found a weak result and let it through
    (WARN), as gs_stages.quality_checks worded it: the notice repeats the verdict, it does not judge again.
    Then `stage: warning` of each stage of the run whose output was kept with a warning about its input
    (metadata `warning`, e.g. a video that stopped decoding part-way: the job used only its first part)."""
    warnings = []
    for entry in _events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        text = _scalar(materialization.metadata.get("warning"))
        if isinstance(text, str) and text:
            warnings.append(f"{materialization.asset_key.to_user_string()}: {text}")
    for entry in _events(instance, run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        data = entry.dagster_event.event_specific_data
        if data is None or data.passed or data.severity != dg.AssetCheckSeverity.WARN:
            continue
        description = _scalar(data.metadata.get("description")) or "failed"
        warnings.append(f"{data.asset_key.to_user_string()} {data.check_name}: {description}")
    return warnings


def failure_summary(instance: dg.DagsterInstance, run_id: str, fallback: str = "") -> tuple[str, str]:
    """The stage's own failure message(s), not the generic 'run failed', and the failed stage."""
    lines: list[str] = []
    stage = ""
    for entry in _events(instance, run_id, DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data
        if data is None:
            continue
        text = ""
        if data.user_failure_data and data.user_failure_data.description:
            text = data.user_failure_data.description
            stage = str(_scalar((data.user_failure_data.metadata or {}).get("stage", stage)) or "")
        elif data.error:
            text = data.error.message.strip()
        if text and text not in lines:
            lines.append(text)
    summary = "\n".join(lines) or fallback
    return bound_text(
        summary, max_bytes=MAX_ERROR_BYTES, max_lines=MAX_ERROR_LINES
    ), stage if stage in JOB_ASSETS else ""


def cancel_summary(instance: dg.DagsterInstance, run_id: str, finished: list[str]) -> str:
    """Who canceled the run and when, in words (Dagster's own event reads DagsterExecutionInterruptedError)."""
    canceling = _events(instance, run_id, DagsterEventType.RUN_CANCELING)
    canceled = _events(instance, run_id, DagsterEventType.RUN_CANCELED)
    entry = (canceling or canceled or [None])[-1]
    when = iso(entry.timestamp) if entry else ""
    message = (entry.user_message or entry.message or "").strip() if canceling else ""
    who = "by a user (the Dagster UI or API)" if message in _PLAIN_CANCEL_MESSAGES else f"({message})"
    text = f"canceled {who}" + (f" at {when}" if when else "") + "."
    done = ", ".join(finished) if finished else "none"
    return f"{text} Stages finished before the cancel: {done}."


def run_changes(run: dg.DagsterRun) -> dict[str, Any]:
    """The job options (by JSON path) and engine settings (`setting <name>`) a run's config changed, as the
    asset reads them (assets/run_config.py); {} for none, or for a config it cannot read (that run failed
    on it, and its error says so)."""
    ops = (run.run_config or {}).get("ops") or {}
    config = (ops.get("reconstruction") or {}).get("config") or {}
    if not isinstance(config, dict) or not config:
        return {}
    try:
        parsed = StageRunConfig(**config)
        changes = parsed.job_overrides()
    except (ValueError, TypeError, dg.Failure):  # pydantic's ValidationError is a ValueError
        return {}
    return {**changes, **{f"setting {name}": value for name, value in parsed.settings.items()}}


def outcome_of(
    instance: dg.DagsterInstance, run: dg.DagsterRun, uuid: str, status: str, fallback_error: str = ""
) -> RunOutcome:
    record = instance.get_run_record_by_id(run.run_id)
    start = record.start_time if record else None
    end = record.end_time if record and status != "RUNNING" else None
    if status == "RUNNING":
        return RunOutcome(run_id=run.run_id, status=status, started_at=iso(start))
    metrics, outputs, earlier = latest_figures(instance, uuid, run.run_id)
    stages = stages_materialized(instance, run.run_id, uuid)
    error, stage = "", ""
    if status == "FAILED":
        error, stage = failure_summary(instance, run.run_id, fallback_error)
    elif status == "CANCELED":
        error = cancel_summary(instance, run.run_id, stages)
    return RunOutcome(
        run_id=run.run_id,
        status=status,
        started_at=iso(start),
        ended_at=iso(end) or datetime.now(UTC).isoformat(timespec="milliseconds"),
        elapsed_s=round(end - start, 3) if start and end else None,
        stages=stages,
        outputs=outputs,
        metrics=metrics,
        error=error,
        failed_stage=stage,
        failed_checks=failed_checks(instance, run.run_id) if status == "FAILED" else [],
        warnings=quality_warnings(instance, run.run_id),
        changes=run_changes(run),
        earlier_figures=earlier,
    )
