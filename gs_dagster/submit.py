"""Submit a job the way the reference system expects: media first under `media-input/`, then a valid
`<uuid>.json` under the intake prefix. The intake sensor takes it from there."""

from __future__ import annotations

import json
import re
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gs_dagster.config import GsConfig
from gs_dagster.resources.storage import open_store
from gs_dagster.sensors.video_intake import probe_video
from gs_dagster.ui_links import partition_url
from gs_stages.capabilities import describe, unsupported
from gs_stages.frames.video_probe import min_frames
from gs_stages.jobspec import ARCHIVE_EXTENSIONS, VIDEO_EXTENSIONS, JobSpec, parse_job
from gs_stages.media import file_problem


@dataclass(frozen=True)
class Submission:
    uuid: str
    spec: JobSpec
    media_uri: str
    job_uri: str
    watch_url: str


def new_uuid() -> str:
    return str(uuid_module.uuid4())


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    node = document
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"{path}: {key} is not an object")
    node[leaf] = value


def job_document(
    *, uuid: str, bucket_name: str, media_key: str, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A job document with the given options (dotted JSON paths, e.g. {"training.maxSteps": 3000})."""
    document: dict[str, Any] = {
        "uuid": uuid,
        "instanceType": "ml.g5.4xlarge",
        "logVerbosity": "info",
        "s3": {
            "bucketName": bucket_name,
            "inputPrefix": "media-input",
            "inputKey": media_key,
            "outputPrefix": "workflow-output",
        },
    }
    for path, value in (options or {}).items():
        _set_path(document, path, value)
    return document


def media_key_for(uuid: str, media: Path) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", media.name)
    return f"{uuid}-{safe}"


def submit(
    media: str | Path,
    *,
    config: GsConfig,
    uuid: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Submission:
    """Upload the media, then the job JSON (validated first, so a bad option never reaches the bucket)."""
    media = Path(media).expanduser()
    if not media.is_file():
        raise FileNotFoundError(f"no media file at {media}")
    if not media.name.lower().endswith(VIDEO_EXTENSIONS + ARCHIVE_EXTENSIONS):
        raise ValueError(f"media must be a video (.mp4, .mov) or a .zip of images, got {media.name!r}")
    problem = file_problem(media, members=True)  # empty, a video named .zip, a zip of 1 photo: before uploading
    if problem is not None:
        raise ValueError(str(problem))
    uuid = uuid or new_uuid()
    bucket = open_store(config.bucket, endpoint_url=config.endpoint_url, region=config.region)
    bucket_name = config.bucket_name
    media_key = media_key_for(uuid, media)
    document = job_document(uuid=uuid, bucket_name=bucket_name, media_key=media_key, options=options)
    spec = parse_job(
        document,
        file_name=f"{uuid}.json",
        deployment_bucket=bucket_name,
        instance_types=config.instance_types,
        prefixes=config.prefix_grants,
    )
    problems = unsupported(spec, host=config.stage_host)  # intake would refuse it: say so before uploading
    if problems:
        raise ValueError(describe(problems))
    if media.name.lower().endswith(VIDEO_EXTENSIONS):  # no decoder reads it, or too few frames: intake refuses
        problem = probe_video(media, media.name, min_frames(spec.spherical_camera.enable))  # in its own process
        if problem is not None:
            raise ValueError(str(problem))
    bucket.upload_file(media, f"{spec.s3.input_prefix}/{media_key}")
    job_key = f"{config.intake_prefix}/{uuid}.json"
    bucket.write_bytes(job_key, json.dumps(document, indent=2).encode())
    return Submission(
        uuid=uuid,
        spec=spec,
        media_uri=bucket.uri_of(f"{spec.s3.input_prefix}/{media_key}"),
        job_uri=bucket.uri_of(job_key),
        watch_url=partition_url(config.dagster_url, uuid),
    )
