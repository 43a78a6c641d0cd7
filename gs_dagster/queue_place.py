"""Where a waiting job stands in line: its run in Dagster's run queue, or its upload not taken in yet.

Dagster's QueuedRunCoordinator starts queued runs oldest first, higher `dagster/priority` before lower
(`max_concurrent_runs` at a time, dagster.yaml). Uploads the intake sensor has not taken in yet come
after every queued run, oldest upload first. Place 1 is the next job to start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from gs_dagster.partitions import PARTITION_TAG, UUID_TAG

#: Run tags that name a run's job: the tag every run of a job carries, else the partition.
JOB_TAGS = (UUID_TAG, PARTITION_TAG)
PRIORITY_TAG = "dagster/priority"


@dataclass(frozen=True)
class QueuePlace:
    place: int  # 1 = next to start
    of: int  # jobs waiting in all
    queued_run: str = ""  # the run id, when the job's run is in Dagster's run queue

    def text(self) -> str:
        where = f"run {self.queued_run[:8]} queued" if self.queued_run else "upload not taken in yet"
        return f"{self.place} of {self.of} waiting ({where})"


def _job_of(tags: dict[str, str]) -> str:
    return next((tags[t] for t in JOB_TAGS if tags.get(t)), "")


def _priority(tags: dict[str, str]) -> int:
    try:
        return int(tags.get(PRIORITY_TAG, "0"))
    except ValueError:
        return 0


def queued_runs(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(job uuid, run id) of the QUEUED runs in the order the run queue starts them."""
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]), ascending=True)
    runs = sorted((r.dagster_run for r in records), key=lambda run: _priority(run.tags), reverse=True)  # stable
    return [(_job_of(run.tags), run.run_id) for run in runs]


def queue_places(runs: Sequence[tuple[str, str]], uploads: Iterable[tuple[str, str]]) -> dict[str, QueuePlace]:
    """Places of every waiting job: `runs` in queue order, then `uploads` ((uuid, upload time) pairs)."""
    waiting = [(uuid, run_id) for uuid, run_id in runs if uuid]
    taken = {uuid for uuid, _ in waiting}
    waiting += [(uuid, "") for uuid, _ in sorted(uploads, key=lambda u: u[1]) if uuid not in taken]
    total = len(waiting)
    places: dict[str, QueuePlace] = {}
    for place, (uuid, run_id) in enumerate(waiting, start=1):
        places.setdefault(uuid, QueuePlace(place, total, run_id))
    return places


def open_instance(home: Path) -> dg.DagsterInstance | None:
    """The Dagster instance in `home` when one was ever started there (status must not create one)."""
    if not (home / "dagster.yaml").is_file() and not (home / "history").is_dir():
        return None
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    return dg.DagsterInstance.get()
