"""Job files in the intake prefix that no record names yet, as `gs-dagster status` shows them: one entry per
uuid, naming the file the intake will run (the first to arrive, gs_dagster.sensors.intake_sources) and the
uuid's other files, which the intake reports once each as a resubmission and never runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gs_dagster.resources.storage import ObjectInfo, Store
from gs_dagster.sensors.intake_cursor import job_uuid_of
from gs_dagster.sensors.intake_rules import arrived
from gs_dagster.sensors.intake_sources import first_upload


@dataclass(frozen=True)
class WaitingUpload:
    uuid: str
    arrived: datetime  # when the file that runs arrived (S3's upload time, a local file's ctime)
    key: str  # the job file the intake runs
    later: list[str] = field(default_factory=list)  # the uuid's other job files: reported, not run

    @property
    def uploaded_at(self) -> str:
        return self.arrived.isoformat()


def waiting_uploads(store: Store, table: Any, prefix: str, recorded: set[str], max_keys: int) -> list[WaitingUpload]:
    """The uuids with job files under `prefix` (folders too, as the intake) and no record, newest first; at most
    `max_keys` keys are looked at. Each file's key is kept, so reading its name and media needs no new search."""
    files: dict[str, list[ObjectInfo]] = {}
    for count, info in enumerate(store.iter_objects(f"{prefix}/")):
        if count >= max_keys:
            break
        uuid = job_uuid_of(info.key)
        if info.key.lower().endswith(".json") and uuid not in recorded:  # the intake sensor's own test
            files.setdefault(uuid, []).append(info)
    known = table.get_many(files, fields=("status",))
    waiting = {uuid: group for uuid, group in files.items() if uuid not in known}
    times = {o: arrived(store, o) for group in waiting.values() for o in group}
    uploads = []
    for uuid, group in waiting.items():
        first = first_upload(group, times.__getitem__)
        later = sorted((o for o in group if o is not first), key=lambda o: (times[o], o.key))
        uploads.append(WaitingUpload(uuid, times[first], first.key, [o.key for o in later]))
    return sorted(uploads, key=lambda upload: upload.arrived, reverse=True)
