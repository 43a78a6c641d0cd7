"""A job's name as people know it: the file they uploaded, not its uuid.

`gs-dagster submit` stores the media as `<uuid>-<file name>`; a job written by hand names its media in
`s3.inputKey`. The name is that file's name without the uuid prefix, or the job file's name when the
job was refused before its media was known.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

#: A job file waiting for intake is read only this far for its media's name (the intake caps it at 1 MB).
MAX_NAME_READ = 64 * 1024


class NamedRecord(Protocol):
    uuid: str
    media_uri: str
    source_uri: str


def file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def media_name(uuid: str, media: str) -> str:
    """The media file's name from its key or URI, without the `<uuid>-` prefix `submit` gives it."""
    name = file_name(media)
    prefix = f"{uuid}-"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name


def job_name(record: NamedRecord) -> str:
    """The uploaded file's name (`apple.mp4`), else the job file's (`<uuid>.json`), else ""."""
    if record.media_uri:
        return media_name(record.uuid, record.media_uri)
    return file_name(record.source_uri) if record.source_uri else ""


def uploaded_media_key(job_json: bytes) -> str:
    """The bucket key of the media a job file not taken in yet names (`s3.inputPrefix`/`s3.inputKey`, the
    prefix `media-input` when left out); "" when it says none readably."""
    try:
        s3: Any = json.loads(job_json[:MAX_NAME_READ])["s3"]
        key, prefix = s3["inputKey"], s3.get("inputPrefix", "media-input")
    except (ValueError, TypeError, KeyError, AttributeError):
        return ""
    if not (isinstance(key, str) and key.strip() and isinstance(prefix, str)):
        return ""
    return f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key


def uploaded_job_name(uuid: str, job_json: bytes) -> str:
    """The media name a job file not taken in yet names (`s3.inputKey`); "" when it says none readably."""
    key = uploaded_media_key(job_json)
    return media_name(uuid, key) if key else ""
