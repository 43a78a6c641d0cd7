"""What the intake accepts (gs_dagster/sensors/intake.py decides what to do with it): its settings, and the
checks of one upload that end in a refusal naming every problem: the job file's size, its document
(gs_stages.jobspec, with this deployment's bucket, instance types and key prefixes), what this build can
run (gs_stages.capabilities), the media object's size and kind (gs_stages.media) and, for a video, whether
the decoder reads enough frames of it (gs_dagster.sensors.video_intake)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from gs_dagster.resources.storage import ObjectInfo, Store
from gs_dagster.sensors.intake_cursor import printable
from gs_dagster.sensors.intake_sources import upload_stamp
from gs_dagster.sensors.video_intake import video_problem
from gs_stages.capabilities import StageHost, describe, unsupported
from gs_stages.frames.zip_contents import TAIL_BYTES
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec, JobSpecError, parse_job
from gs_stages.media import HEAD_BYTES, media_problem
from gs_stages.s3_keys import PrefixGrants

MAX_JOB_BYTES = 1024 * 1024
#: Seconds a local file must have been left alone before what it holds may refuse its job (or, for media, run
#: it): a copy into the folder (a file manager, `cp`) writes it over time, and its first part is no finding
#: about the whole (a faststart MP4's first part decodes).
#: An S3 object is listed only once its upload completed, so S3 needs no such wait.
QUIET_S = 15.0
#: Seconds after a local job file's arrival within which its modification time set back is the end of that same
#: copy (`cp -p`, a file manager: the file is written, then given its source's time), not a new drop.
COPY_END_S = 1.0


class IntakeResource(dg.ConfigurableResource):
    """How the intake sensor reads the bucket."""

    prefix: str = Field(default="workflow-input", description="key prefix of job JSON files")
    instance_types: list[str] = Field(default_factory=lambda: list(DEFAULT_INSTANCE_TYPES))
    media_wait_s: float = Field(default=300.0, description="how long a job may wait for its media upload")
    max_keys_per_tick: int = Field(default=5000, description="keys listed per tick (the rest: next tick)")
    max_new_jobs_per_tick: int = Field(
        default=50, description="new uploads (started, refused or resubmitted) handled per tick; the rest: next tick"
    )
    tick_budget_s: float = Field(default=20.0, description="a tick stops listing after this many seconds")
    max_attempts: int = Field(
        default=3, description="ticks in a row a job file may fail to be handled before it is refused"
    )
    media_prefixes: list[str] = Field(
        default_factory=list, description="prefixes jobs may read media from (GS_MEDIA_PREFIXES; empty: any)"
    )
    output_prefixes: list[str] = Field(
        default_factory=list, description="prefixes jobs may deliver to (GS_OUTPUT_PREFIXES; empty: any)"
    )
    stages_in_image: bool = Field(
        default=False,
        description="the stages run in the SageMaker image (its environments are built in), not on this machine",
    )
    stage_settings_json: str = Field(default="{}", description="the engine settings the stages get (JSON)")

    def stage_host(self) -> StageHost:
        """Where the stages run, for the checks of their external environments (3DGRUT's)."""
        return StageHost(settings=json.loads(self.stage_settings_json or "{}"), in_image=self.stages_in_image)


def read_job(store: Store, obj: ObjectInfo, bucket_name: str, settings: IntakeResource) -> JobSpec | str:
    """The job file's spec, or why it is refused (too large, gone, invalid, or not runnable by this build)."""
    if obj.size > MAX_JOB_BYTES:
        return f"the job file is {obj.size:,} bytes; a job JSON is at most {MAX_JOB_BYTES:,} bytes"
    try:
        text = store.read_bytes(obj.key)
    except FileNotFoundError:
        return "the job file was removed before intake could read it; upload it again to run the job"
    if len(text) > MAX_JOB_BYTES:  # grew after it was listed
        return f"the job file is over {MAX_JOB_BYTES:,} bytes, the most a job JSON is"
    try:
        spec = parse_job(
            text,
            file_name=printable(obj.key.rsplit("/", 1)[-1]),
            deployment_bucket=bucket_name,
            instance_types=settings.instance_types,
            prefixes=PrefixGrants.parse(settings.media_prefixes, settings.output_prefixes),
        )
    except JobSpecError as exc:
        return str(exc)
    problems = unsupported(spec, host=settings.stage_host())  # never finishable: refused now, not after SfM
    return describe(problems) if problems else spec


def media_refusal(store: Store, spec: JobSpec, media: ObjectInfo) -> str:
    """An empty media object, one that holds something else than its name says (a video named .zip, one
    photo, an audio file), a zip whose member list holds no photos or too few for SfM (read from its
    end), or a video no decoder reads or with too few frames (its first frames decoded): refused here,
    where a corrected upload under the same uuid is accepted."""
    head = store.read_head(media.key, HEAD_BYTES) if media.size else b""
    tail = store.read_tail(media.key, TAIL_BYTES) if media.size and spec.s3.input_key.lower().endswith(".zip") else b""
    problem = media_problem(spec.s3.input_key, media.size, head, tail) or video_problem(store, spec, media)
    if problem is None:
        return ""
    return f"{problem.message} ({store.uri_of(media.key)})\nWhat to try: {problem.hint}"


def arrived(store: Store, obj: ObjectInfo) -> datetime:
    """When the file came into the bucket: S3's upload time; for a local file its last change of any kind (its
    ctime), since a copy (`cp -p`, rsync -a, a file manager) keeps its source's modification time."""
    path = store.local_path(obj.key)
    try:
        changed = datetime.fromtimestamp(path.stat().st_ctime, UTC) if path is not None else obj.modified
    except OSError:  # gone meanwhile: what was listed stands
        changed = obj.modified
    return max(obj.modified, changed)


def still_written(store: Store, obj: ObjectInfo, now: datetime) -> bool:
    """Whether `obj` is a local file changed in the last QUIET_S seconds (a copy in progress, or just ended)."""
    return store.local_path(obj.key) is not None and (now - arrived(store, obj)).total_seconds() < QUIET_S


def copy_in_progress(
    store: Store, job: ObjectInfo, judged: ObjectInfo, now: datetime, settings: IntakeResource
) -> bool:
    """Whether `judged` (a local job file, or its media) is still being written while the job's wait goes on
    (`media_wait_s` after the job file `job` arrived): it is judged once left alone QUIET_S, not on a part."""
    waited = (now - arrived(store, job)).total_seconds()
    return waited < settings.media_wait_s and still_written(store, judged, now)


def unfinished_copy(store: Store, media: ObjectInfo, now: datetime, settings: IntakeResource) -> str:
    """Why local media still being written when the job's wait for it ended (`media_wait_s` after the job file) is
    refused, not judged on its part (a faststart MP4's start decodes; a zip's start has no member list), or ''.
    S3 lists only whole objects; `media_wait_s` 0 asks for no wait, so the file is judged as it is."""
    if settings.media_wait_s <= 0 or not still_written(store, media, now):
        return ""
    quiet = (now - arrived(store, media)).total_seconds()
    return (
        f"the media {store.uri_of(media.key)} was still being written when the wait for it ended "
        f"({settings.media_wait_s:.0f} s after the job file arrived; it last changed {quiet:.0f} s before, and a "
        f"file counts as copied once left alone {QUIET_S:.0f} s), so it was not judged on a part of it.\n"
        "What to try: once its copy has ended, upload the job file again; copy the media in before the job file, "
        "or raise GS_MEDIA_WAIT_S above the copy's length"
    )


def copy_continued(store: Store, obj: ObjectInfo, taken: tuple[str, str], arrival: datetime) -> bool:
    """Whether `obj`, a local file taken in as `taken` (its ETag and arrival), then had its modification time set
    back to before that arrival within COPY_END_S: the end of the copy that was taken in (`cp -p` writes the file,
    then gives it its source's time), if it holds the same job (same_job). A record of an earlier version (its
    file's modification time, to the millisecond) never is."""
    etag, stamp = taken
    try:
        since = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if store.local_path(obj.key) is None or upload_stamp(since) != stamp or obj.etag == etag:
        return False
    return obj.modified < since and 0.0 <= (arrival - since).total_seconds() < COPY_END_S


def same_job(store: Store, obj: ObjectInfo, spec: str, bucket_name: str, settings: IntakeResource) -> bool:
    """Whether the job file holds the job `spec` (a record's canonical job JSON)."""
    job = read_job(store, obj, bucket_name, settings)
    return not isinstance(job, str) and json.dumps(job.to_json(), sort_keys=True) == spec
