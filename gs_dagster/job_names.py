"""A job's name as people know it: the file they uploaded, not its uuid.

`gs-dagster submit` stores the media as `<uuid>-<file name>`; a job written by hand names its media in
`s3.inputKey`. The name is that file's name without the uuid prefix, or the job file's name when the
job was refused before its media was known.
"""

from __future__ import annotations

from typing import Protocol


class NamedRecord(Protocol):
    uuid: str
    media_uri: str
    source_uri: str


def file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def job_name(record: NamedRecord) -> str:
    """The uploaded file's name (`apple.mp4`), else the job file's (`<uuid>.json`), else ""."""
    if record.media_uri:
        name = file_name(record.media_uri)
        prefix = f"{record.uuid}-"
        return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name
    return file_name(record.source_uri) if record.source_uri else ""
