"""Intake: watch `<bucket>/workflow-input/*.json`, validate each new job, record it, add its partition and
request one run keyed by its uuid. The same sensor watches a local folder in the embedded default.

Correctness does not rest on the cursor. The job table is the source of truth for which uploads were
handled (uuid plus the object's ETag), so a key is never missed whatever its name or upload time; the
cursor is only the position of a sweep through the listing, in key order and in pages, so one tick
does bounded work (at most `max_keys_per_tick` keys listed, `max_new_jobs_per_tick` jobs started,
`tick_budget_s` seconds) and the next tick continues where it stopped. A sweep that reaches the end
starts over, so keys that land before the position are found on the next sweep.

Per upload:
- new uuid, valid job, media present   -> SUBMITTED record, partition, RunRequest(run_key=uuid)
- invalid document                      -> FAILED record (failed_at=intake) + notice, every problem listed
- valid, but this build cannot run it   -> the same, every reason listed (gs_stages.capabilities)
- media missing                         -> wait up to `media_wait_s` from the JSON's upload, then FAILED + notice
- media empty, or another kind of file  -> FAILED + notice (a video named .zip, one photo: gs_stages.media)
- known uuid, same object               -> nothing (already handled)
- known uuid, new upload                -> never run again; the resubmission is recorded and reported once
  (except a job refused at intake, which never ran: a corrected upload replaces it)
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from gs_dagster.messages import duplicate_notice, intake_failed_notice
from gs_dagster.partitions import JOBS_PARTITION
from gs_stages.capabilities import describe, unsupported
from gs_stages.jobspec import DEFAULT_INSTANCE_TYPES, JobSpec, JobSpecError, parse_job
from gs_stages.media import HEAD_BYTES, media_problem
from resources.job_table import JobRecord, JobTable, JobTableResource, utc_now
from resources.notifier import NotifierResource
from resources.storage import ObjectInfo, StorageResource

log = logging.getLogger("gs_dagster.intake")

MAX_JOB_BYTES = 1024 * 1024
UUID_TAG = "gs/uuid"
#: What the intake reads of each known job (not the spec): enough to tell handled, resubmitted, refused.
INTAKE_FIELDS = ("status", "source_etag", "failed_at", "run_id", "resubmissions")


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


@dataclass
class IntakeCursor:
    after: str = ""  # last key handled in the current sweep ("" = start of the listing)
    sweeps: int = 0  # completed sweeps

    @classmethod
    def parse(cls, raw: str | None) -> "IntakeCursor":
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(after=str(data.get("after", "")), sweeps=int(data.get("sweeps", 0)))
        except (ValueError, TypeError, AttributeError):
            log.warning("intake cursor %r unreadable; starting a new sweep", raw)
            return cls()

    def dump(self) -> str:
        return json.dumps({"after": self.after, "sweeps": self.sweeps})


@dataclass
class IntakeTick:
    cursor: IntakeCursor
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    new_partitions: list[str] = field(default_factory=list)
    listed: int = 0
    submitted: int = 0
    refused: int = 0
    duplicates: int = 0
    deferred: int = 0
    errors: int = 0
    sweep_done: bool = False
    seconds: float = 0.0

    @property
    def handled(self) -> int:
        """Uploads that took work this tick (reads, writes, notices): what the per-tick cap counts."""
        return self.submitted + self.refused + self.duplicates

    def summary(self) -> str:
        where = "sweep complete" if self.sweep_done else f"continues after {self.cursor.after!r}"
        return (
            f"listed {self.listed} key(s) in {self.seconds:.2f} s: {self.submitted} submitted, "
            f"{self.refused} refused, {self.duplicates} resubmission(s), {self.deferred} waiting for media, "
            f"{self.errors} error(s); {where}"
        )


def job_uuid_of(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name[: -len(".json")] if name.lower().endswith(".json") else name


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class Intake:
    """One tick of intake, independent of Dagster's sensor machinery (tests and `gs-dagster process` call it)."""

    def __init__(
        self,
        *,
        bucket: StorageResource,
        job_table: JobTable,
        notifier: NotifierResource,
        settings: IntakeResource,
        instance: dg.DagsterInstance | None = None,
        logger: Any = None,
    ):
        self.bucket = bucket
        self.store = bucket.store()
        self.table = job_table
        self.notifier = notifier
        self.settings = settings
        self.instance = instance
        self.log = logger or log

    def tick(self, cursor: IntakeCursor, now: datetime | None = None) -> IntakeTick:
        started = time.monotonic()
        now = now or datetime.now(UTC)
        result = IntakeTick(cursor=IntakeCursor(cursor.after, cursor.sweeps))
        prefix = self.settings.prefix.strip("/") + "/"
        stop = False
        while not stop:
            room = self.settings.max_keys_per_tick - result.listed
            page = self.store.list_page(prefix, start_after=result.cursor.after, max_keys=max(1, min(1000, room)))
            jobs = [o for o in page.objects if o.key.lower().endswith(".json")]
            known = self.table.get_many((job_uuid_of(o.key) for o in jobs), fields=INTAKE_FIELDS)
            for obj in page.objects:
                if (
                    result.handled >= self.settings.max_new_jobs_per_tick
                    or time.monotonic() - started > self.settings.tick_budget_s
                ):
                    stop = True
                    break
                if obj.key.lower().endswith(".json"):
                    try:
                        self._handle(obj, known.get(job_uuid_of(obj.key)), now, result)
                    except Exception as exc:  # one bad object must not stop the intake
                        result.errors += 1
                        self.log.exception(f"intake: {self.store.uri_of(obj.key)} not handled this tick: {exc}")
                result.cursor.after = obj.key
                result.listed += 1
            if stop:
                break
            if not page.truncated:
                result.cursor = IntakeCursor("", result.cursor.sweeps + 1)
                result.sweep_done = True
                break
            if result.listed >= self.settings.max_keys_per_tick:
                break
        result.seconds = time.monotonic() - started
        return result

    # -- one object ----------------------------------------------------------------------------------

    def _handle(self, obj: ObjectInfo, record: JobRecord | None, now: datetime, result: IntakeTick) -> None:
        uuid = job_uuid_of(obj.key)
        if record is None:
            self._intake(obj, uuid, None, now, result)
        elif record.source_etag == obj.etag:
            if record.status == "SUBMITTED" and not record.run_id:
                self._ensure_run(record, result)
        elif record.failed_at == "intake" and not record.run_id:
            self._intake(obj, uuid, record, now, result)
        elif self.table.record_resubmission(
            uuid, old_etag=record.source_etag, etag=obj.etag, modified=_iso(obj.modified)
        ):
            result.duplicates += 1
            self.log.warning(f"intake: job {uuid} uploaded again; a uuid runs once, not starting it")
            self.notifier.notify(
                duplicate_notice(
                    uuid, self.store.uri_of(obj.key), record.status, record.run_id, record.resubmissions + 1
                ),
                self.log,
            )

    def _intake(self, obj: ObjectInfo, uuid: str, old: JobRecord | None, now: datetime, result: IntakeTick) -> None:
        source = self.store.uri_of(obj.key)
        base = JobRecord(
            uuid=uuid,
            submitted_at=utc_now(),
            updated_at=utc_now(),
            source_uri=source,
            source_etag=obj.etag,
            source_modified=_iso(obj.modified),
            resubmissions=old.resubmissions if old else 0,
        )
        if obj.size > MAX_JOB_BYTES:
            self._refuse(base, old, f"the job file is {obj.size} bytes; a job JSON is at most {MAX_JOB_BYTES}", result)
            return
        try:
            spec = parse_job(
                self.store.read_bytes(obj.key),
                file_name=obj.key.rsplit("/", 1)[-1],
                deployment_bucket=self.bucket.bucket_name,
                instance_types=self.settings.instance_types,
            )
        except JobSpecError as exc:
            self._refuse(base, old, str(exc), result)
            return
        problems = unsupported(spec)  # a valid job this build can never finish: refused now, not after SfM
        if problems:
            self._refuse(base, old, describe(problems), result)
            return
        base.spec = json.dumps(spec.to_json(), sort_keys=True)
        base.media_uri = self.store.uri_of(spec.s3.media_key)
        media = self.store.head(spec.s3.media_key)
        if media is None:
            waited = (now - obj.modified).total_seconds()
            if waited < self.settings.media_wait_s:
                result.deferred += 1
                self.log.info(f"intake: job {uuid} waits for its media {base.media_uri} ({waited:.0f} s so far)")
                return
            message = (
                f"media not found: {base.media_uri} (waited {waited:.0f} s after the job file). "
                f"Upload the media to {spec.s3.input_prefix}/{spec.s3.input_key} first, then the job JSON."
            )
            self._refuse(base, old, message, result)
            return
        problem = self._media_problem(spec, media)
        if problem:
            self._refuse(base, old, problem, result)
            return
        base.status = "SUBMITTED"
        written = self.table.replace_intake_failure(base, old_etag=old.source_etag) if old else self.table.create(base)
        if not written:
            self.log.info(f"intake: job {uuid} was recorded by someone else meanwhile; skipping")
            return
        result.submitted += 1
        result.new_partitions.append(uuid)
        result.run_requests.append(self.run_request(uuid, source))
        self.log.info(f"intake: job {uuid} submitted ({spec.s3.input_key}, {spec.training.max_steps} steps)")

    def _media_problem(self, spec: JobSpec, media: ObjectInfo) -> str:
        """An empty media object, or one that holds something else than its name says (a video named .zip,
        one photo, an audio file): refused here, where a corrected upload under the same uuid is accepted."""
        head = self.store.read_head(media.key, HEAD_BYTES) if media.size else b""
        problem = media_problem(spec.s3.input_key, media.size, head)
        if problem is None:
            return ""
        return f"{problem.message} ({self.store.uri_of(media.key)})\nWhat to try: {problem.hint}"

    def _refuse(self, record: JobRecord, old: JobRecord | None, error: str, result: IntakeTick) -> None:
        record.status, record.failed_at, record.error = "FAILED", "intake", error
        written = (
            self.table.replace_intake_failure(record, old_etag=old.source_etag) if old else self.table.create(record)
        )
        if written:
            result.refused += 1
            self.log.warning(f"intake: job {record.uuid} refused: {error}")
            self.notifier.notify(intake_failed_notice(record.uuid, record.source_uri, error), self.log)

    def _ensure_run(self, record: JobRecord, result: IntakeTick) -> None:
        """A recorded job whose run request was lost (the tick died after recording it) is requested again;
        the run key makes the request idempotent."""
        if self.instance is None:
            return
        runs = self.instance.get_run_records(dg.RunsFilter(tags={UUID_TAG: record.uuid}), limit=1)
        if not runs:
            result.new_partitions.append(record.uuid)
            result.run_requests.append(self.run_request(record.uuid, record.source_uri))

    @staticmethod
    def run_request(uuid: str, source: str) -> dg.RunRequest:
        return dg.RunRequest(run_key=uuid, partition_key=uuid, tags={UUID_TAG: uuid, "gs/source": source})


def build_intake_sensor(job: Any, interval_s: int = 30) -> dg.SensorDefinition:
    @dg.sensor(
        name="job_intake",
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Validates new job JSON files under the intake prefix, records them, requests one run per uuid.",
    )
    def job_intake(
        context: dg.SensorEvaluationContext,
        bucket: StorageResource,
        job_table: JobTableResource,
        notifier: NotifierResource,
        intake: IntakeResource,
    ) -> dg.SensorResult:
        tick = Intake(
            bucket=bucket,
            job_table=job_table.table(),
            notifier=notifier,
            settings=intake,
            instance=context.instance,
            logger=context.log,
        ).tick(IntakeCursor.parse(context.cursor))
        if tick.handled or tick.deferred or tick.errors:  # a tick that found nothing new says so in its skip reason
            context.log.info(f"intake {bucket.uri_of(intake.prefix)}: {tick.summary()}")
        partitions = (
            [dg.AddDynamicPartitionsRequest(JOBS_PARTITION, sorted(set(tick.new_partitions)))]
            if tick.new_partitions
            else []
        )
        return dg.SensorResult(
            run_requests=tick.run_requests,
            dynamic_partitions_requests=partitions,
            cursor=tick.cursor.dump(),
            skip_reason=None if tick.run_requests else tick.summary(),
        )

    return job_intake
