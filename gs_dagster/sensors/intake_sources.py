"""Which upload of a job file is which: the one a record was made from, a new upload of the same file (dropped
again, even unchanged), the files of its uuid in other folders (each reported once), and which of two new files
of one uuid runs. A file is told by its name, its ETag and when it arrived: a local copy (`cp -p`, rsync -a, a
file manager) keeps its source's modification time, and the same bytes dropped again keep the ETag, so the
arrival (S3's upload time; a local file's ctime, gs_dagster.sensors.intake_rules.arrived) tells a new drop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gs_dagster.resources.job_table import JobRecord
from gs_dagster.resources.storage import ObjectInfo
from gs_dagster.sensors.intake_cursor import job_uuid_of

#: The record's fields these rules read.
SOURCE_FIELDS = ("source_uri", "source_etag", "source_modified", "other_sources")


def upload_stamp(arrival: datetime) -> str:
    """How a record names when an upload arrived (`source_modified`, `other_sources`): to the microsecond."""
    return arrival.astimezone(UTC).isoformat(timespec="microseconds")


def _stamps(obj: ObjectInfo, arrival: datetime) -> tuple[str, ...]:
    """What a record may hold of this upload: its arrival, or, in a record written before arrivals were kept,
    its modification time to the millisecond (a length the arrival never has; an identical file dropped again
    over such a file is not told from it) or nothing."""
    return ("", upload_stamp(arrival), obj.modified.astimezone(UTC).isoformat(timespec="milliseconds"))


def same_upload(record: JobRecord, obj: ObjectInfo, arrival: datetime) -> bool:
    """The upload the record was made from (or last reported, for the record's own file)."""
    return record.source_etag == obj.etag and record.source_modified in _stamps(obj, arrival)


def source_entry(uri: str, etag: str, stamp: str = "") -> str:
    """How `other_sources` names one upload of a job file ("<uri> <etag> <arrival>"; older records: no arrival)."""
    return f"{uri} {etag} {stamp}" if stamp else f"{uri} {etag}"


def other_file(record: JobRecord, uri: str) -> bool:
    """A job file of the record's uuid in another folder than the file the record was made from."""
    return bool(record.source_uri) and uri != record.source_uri


def known_other(record: JobRecord, obj: ObjectInfo, uri: str, arrival: datetime) -> bool:
    """Another folder's file of the uuid, this upload of it already reported (or the record's earlier file,
    replaced): remembered by the record, since its time says nothing of when it arrived."""
    return any(source_entry(uri, obj.etag, stamp) in record.other_sources for stamp in _stamps(obj, arrival))


def later_copies(
    jobs: list[ObjectInfo], known: dict[str, JobRecord], arrived: Callable[[ObjectInfo], datetime]
) -> set[str]:
    """Job files of a new uuid that another file of it in the same page arrived before: left to the next sweep,
    so the earlier upload runs and they are reported, as when the two are found in two sweeps."""
    files: dict[str, list[ObjectInfo]] = {}
    for obj in (o for o in jobs if job_uuid_of(o.key) not in known):
        files.setdefault(job_uuid_of(obj.key), []).append(obj)
    later: set[str] = set()
    for group in (g for g in files.values() if len(g) > 1):
        first = first_upload(group, arrived)
        later.update(o.key for o in group if o is not first)
    return later


def first_upload(files: list[ObjectInfo], arrived: Callable[[ObjectInfo], datetime]) -> ObjectInfo:
    """Of one new uuid's job files, the one that runs: the first to arrive, then the first in key order."""
    return min(files, key=lambda o: (arrived(o), o.key))
