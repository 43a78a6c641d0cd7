"""The words of every notice: where the results are and how good they are, or what went wrong and
what to do about it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gs_dagster.partitions import DELIVERY
from gs_dagster.resources.job_table import TERMINAL, JobRecord, RunOutcome
from gs_dagster.resources.notifier import Notice
from gs_dagster.resources.text_bounds import bound_text
from gs_dagster.retry_hints import RETRY_AFTER_FAILURE, retry_hint
from gs_stages.export.mesh import NO_SPZ

#: Headline metric -> how it reads in a message.
_QUALITY_LINES: tuple[tuple[str, str], ...] = (
    ("frame_count", "frames: {:,.0f}"),
    ("registered_images", "registered images: {:,.0f}"),
    ("registered_ratio", "registered share: {:.0%}"),
    ("psnr", "held-out PSNR: {:.2f} dB"),
    ("num_gaussians", "Gaussians: {:,.0f}"),
    ("spz_bytes", ".spz size: {}"),
    ("ply_bytes", ".ply size: {}"),
)


#: How much of an error a notice repeats (the record keeps more; `gs-dagster status <uuid>` shows it).
NOTICE_ERROR_LINES = 25
NOTICE_ERROR_BYTES = 16_000
__all__ = ["RETRY_AFTER_FAILURE", "duplicate_notice", "intake_failed_notice", "run_notice", "shown_error"]


def shown_error(error: str) -> str:
    """What a notice (and the viewer's library) repeats of an error, saying how much it left out."""
    return bound_text(error.strip(), max_bytes=NOTICE_ERROR_BYTES, max_lines=NOTICE_ERROR_LINES)


def _titled(name: str, uuid: str) -> str:
    return f"{name} (job {uuid})" if name and name != uuid else f"job {uuid}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def quality_lines(metrics: Mapping[str, Any], earlier: Collection[str] = ()) -> list[str]:
    """One line per headline figure; those in `earlier` (made by an earlier run than the one reported) say so."""
    lines = []
    for name, template in _QUALITY_LINES:
        value = metrics.get(name)
        if value is not None:
            line = "  " + template.format(human_bytes(value) if name.endswith("_bytes") else value)
            lines.append(line + (" (an earlier run's)" if name in earlier else ""))
    return lines


#: How a notice names the bucket's files when the run did not deliver (they are the last delivery's).
_EARLIER = "from an earlier run; this run delivered nothing"
#: What a run can have made that only `delivery` puts in the bucket.
_UNDELIVERED_STAGES = ("splat", "spz")


def _undelivered_note(uuid: str, outcome: RunOutcome) -> str:
    """A run that made a new splat or spz but did not run `delivery` (the UI runs only the assets selected):
    what is not in the bucket, and what to select to put it there."""
    if DELIVERY in outcome.stages:
        return ""
    made = [s for s in _UNDELIVERED_STAGES if s in outcome.stages]
    if not made:
        return ""
    select = DELIVERY if "spz" in made else f"spz, {DELIVERY}"
    verb = "is" if len(made) == 1 else "are"
    them = "it" if select == DELIVERY else "them"
    return (
        f"This run's {' and '.join(made)} {verb} not delivered (the run did not include {DELIVERY}): the bucket "
        f"still holds the last delivered files, and the figures below are this run's. To deliver it: in the "
        f"Dagster UI select {select} of partition {uuid} and materialize {them}."
    )


def run_notice(
    uuid: str,
    outcome: RunOutcome,
    *,
    dagster_url: str,
    name: str = "",
    newer_run: str = "",
    max_steps: int | None = None,
) -> Notice:
    """The end of one run of a job. `newer_run`: a later run of the job that started before this notice
    went out (the record shows that one; this notice is still about `outcome`)."""
    status = outcome.status
    stages = ", ".join(outcome.stages) or "no stage"
    head = f"{_titled(name, uuid)} {status} after {human_seconds(outcome.elapsed_s)} (stages run: {stages})."
    lines = [head, ""]
    if outcome.changes:  # the record's spec is the job file's: say what this run did differently
        changed = ", ".join(f"{path}={value}" for path, value in outcome.changes.items())
        lines += [f"Options of this run (its run config; the job file's stay for later runs): {changed}", ""]
    results = {k: v for k, v in outcome.outputs.items() if k in (".spz", ".ply", ".glb", "sparse")}
    delivered = DELIVERY in outcome.stages
    if results and status != "CANCELED":
        lines.append("Results:" if delivered else f"Delivered files ({_EARLIER}):")
        lines += [f"  {uri}" for _, uri in sorted(results.items(), reverse=True)]
        if ".glb" in results and ".spz" not in results:
            lines.append(f"  (no .spz: {NO_SPZ})")
        lines.append("")
    elif status == "COMPLETE" and not delivered:
        lines.append("This run delivered no new .ply/.spz (it did not include the delivery).")
        lines.append("")
    undelivered = _undelivered_note(uuid, outcome) if status == "COMPLETE" else ""
    if undelivered:
        lines += [undelivered, ""]
    quality = quality_lines(outcome.metrics, outcome.earlier_figures) + [f"  warning: {w}" for w in outcome.warnings]
    if quality:
        lines.append("Quality:")
        lines += quality
        lines.append("")
    if outcome.error:
        lines.append("Canceled:" if status == "CANCELED" else "What went wrong:")
        lines += ["  " + line for line in shown_error(outcome.error).splitlines()]
        lines.append("")
    if status == "FAILED":
        lines += [retry_hint(uuid, outcome.failed_stage, outcome.failed_checks, max_steps), ""]
    if newer_run:
        lines += [f"A newer run of this job ({newer_run}) has started since; the job status follows that run.", ""]
    lines.append(f"Dagster run: {dagster_url}/runs/{outcome.run_id}")
    lines.append(f"Job status: gs-dagster status {uuid}")
    subject = f"gs-dagster: job {uuid} {status}"
    if status == "COMPLETE" and "psnr" in outcome.metrics:
        weak = any(w.startswith("splat heldout_psnr:") for w in outcome.warnings)  # the check's verdict
        subject += f" (PSNR {outcome.metrics['psnr']:.1f} dB{', weak' if weak else ''})"
    if name and name != uuid:
        subject += f": {name}"
    details = {"status": status, "run_id": outcome.run_id, "name": name or uuid, "outputs": dict(outcome.outputs)}
    details.update(metrics=dict(outcome.metrics), error=outcome.error, elapsed_s=outcome.elapsed_s)
    if outcome.failed_stage:
        details["stage"] = outcome.failed_stage
    return Notice(uuid=uuid, event=status, subject=subject, text="\n".join(lines), details=details)


def intake_failed_notice(uuid: str, source_uri: str, error: str) -> Notice:
    text = (
        f"Job {uuid} was not started: the job file {source_uri} was refused.\n\n"
        f"{shown_error(error)}\n\n"
        "Fix what is named above (the job file or its media), then upload the job file again under the same "
        "name; a job that never ran may be resubmitted."
    )
    return Notice(
        uuid=uuid,
        event="FAILED",
        subject=f"gs-dagster: job {uuid} FAILED (refused at intake)",
        text=text,
        details={"status": "FAILED", "stage": "intake", "source": source_uri, "error": error},
    )


def duplicate_notice(record: JobRecord, source_uri: str) -> Notice:
    """A job file of a known job uploaded again (changed, or the same bytes dropped again): not run again, with
    how the job stands (since when, for one that ended) and how to run it again."""
    uuid, status, run_id, count = record.uuid, record.status, record.run_id, record.resubmissions + 1
    since = f" since {record.ended_at[:19].replace('T', ' ')} UTC" if record.ended_at and status in TERMINAL else ""
    text = (
        f"Job {uuid} was uploaded again ({source_uri}); a uuid runs only once, so nothing was started.\n"
        f"The job is {status}{f' (run {run_id})' if run_id else ''}{since}; "
        f"it has been resubmitted {count} time(s).\n"
        "To run it again, submit it under a new uuid, or re-materialize it from the Dagster UI."
    )
    return Notice(
        uuid=uuid,
        event="DUPLICATE",
        subject=f"gs-dagster: job {uuid} resubmitted, not run again",
        text=text,
        details={"status": status, "source": source_uri, "resubmissions": count},
    )
