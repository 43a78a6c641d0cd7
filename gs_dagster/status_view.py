"""How `gs-dagster status` shows a job: one job's lines, and the listing's name and queue columns."""

from __future__ import annotations

from typing import Any

from gs_dagster.job_names import job_name
from gs_dagster.messages import human_seconds, quality_lines
from gs_dagster.queue_place import QueuePlace


def print_job(record: Any, place: QueuePlace | None, now: str | None = None) -> None:
    """One job's record as `gs-dagster status UUID` shows it; `now`: where its running run is."""
    print(f"{record.uuid}: {record.status}")
    if now:
        print(f"  now: {now}")
    if job_name(record):
        print(f"  name: {job_name(record)}")
    if place is not None and record.status == "SUBMITTED":
        print(f"  queue place: {place.text()}")
    for name in ("submitted_at", "started_at", "ended_at", "run_id", "source_uri", "media_uri"):
        if getattr(record, name):
            print(f"  {name}: {getattr(record, name)}")
    if record.elapsed_s is not None:
        print(f"  elapsed: {human_seconds(record.elapsed_s)}")
    if record.stages:
        print(f"  stages of the last run: {', '.join(record.stages)}")
    for key, uri in sorted(record.outputs.items()):
        print(f"  output {key}: {uri}")
    for line in quality_lines(record.metrics):
        print(line)
    if record.resubmissions:
        print(f"  resubmitted {record.resubmissions} time(s) (not run again)")
    if record.error:
        print("  error:")
        for line in record.error.splitlines():
            print(f"    {line}")


def place_column(place: QueuePlace | None) -> str:
    return f"{place.place}/{place.of}" if place is not None else ""


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, the cut marked (a file name's end says most: keep it)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]
