"""Which job file of a uuid is which, when one uuid has files in several folders under the intake prefix
(gs_dagster/sensors/intake.py): the file a record was made from, the others it has reported, and which of two
new ones runs. Each other file is reported once; the record remembers it, since a file's time is no guide to
when it arrived (a copy by `cp -p`, rsync -a or a file manager keeps its source's time)."""

from __future__ import annotations

from gs_dagster.resources.job_table import JobRecord
from gs_dagster.resources.storage import ObjectInfo
from gs_dagster.sensors.intake_cursor import job_uuid_of

#: The record's fields these rules read.
SOURCE_FIELDS = ("source_uri", "other_sources")


def source_entry(uri: str, etag: str) -> str:
    """How `other_sources` names one upload of a job file (the job table's "<uri> <etag>")."""
    return f"{uri} {etag}"


def other_file(record: JobRecord, uri: str) -> bool:
    """A job file of the record's uuid in another folder than the file the record was made from."""
    return bool(record.source_uri) and uri != record.source_uri


def known_other(record: JobRecord, obj: ObjectInfo, uri: str) -> bool:
    """Another folder's file of the uuid, already reported (or the record's earlier file, replaced): its time is
    no guide, since a copy (`cp -p`, a file manager) keeps the source's, so the record remembers it."""
    return source_entry(uri, obj.etag) in record.other_sources


def later_copies(jobs: list[ObjectInfo], known: dict[str, JobRecord]) -> set[str]:
    """Job files of a new uuid that another file of it in the same page precedes in upload time: left to the next
    sweep, so the earlier upload runs and they are reported, as when the two are found in two sweeps."""
    first: dict[str, ObjectInfo] = {}
    for obj in (o for o in jobs if job_uuid_of(o.key) not in known):
        seen = first.setdefault(job_uuid_of(obj.key), obj)
        if (obj.modified, obj.key) < (seen.modified, seen.key):
            first[job_uuid_of(obj.key)] = obj
    return {o.key for o in jobs if job_uuid_of(o.key) in first and first[job_uuid_of(o.key)] is not o}
