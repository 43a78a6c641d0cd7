"""Intake: watch `<bucket>/workflow-input/**/*.json`, validate each new job, record it, add its partition and
request one run keyed by its uuid. The same sensor watches a local folder in the embedded default.

Correctness does not rest on the cursor. The job table is the source of truth for which uploads were
handled (uuid plus the object's ETag and arrival), so a key is never missed whatever its name or upload time; the
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
- a video no decoder reads, or 1-2 frames -> FAILED + notice (its first frames decoded: sensors.video_intake)
- local media, or a job file refused/reported, still written -> waits until left alone QUIET_S (a copy going on)
- known uuid, same upload               -> nothing (already handled)
- known uuid, new upload (the same bytes dropped again too: a later arrival, sensors.intake_sources)
                                        -> never run again; the resubmission is recorded and reported once
  (except a job refused at intake, which never ran: a corrected upload replaces it)
- the file vanishes before it is read   -> FAILED + notice (nothing is left to run)
- handling it fails `max_attempts` ticks in a row (a fault not foreseen above) -> FAILED + notice naming
  the error, instead of a traceback on every tick

Every `*.json` under the prefix is a job file, hidden ones (`.x.json`) included: S3 has no hidden keys,
so both bucket kinds see the same files, and a file a user dropped gets a record and a notice rather
than silence (a hidden name is never a valid uuid, so the notice says to rename it). So are files in
folders under it, as the reference's trigger (S3 notification on prefix + `.json`) takes them; the uuid is
the base name, so files of one uuid in two folders are one job, the later reported as a resubmission.
"""

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from gs_dagster.messages import duplicate_notice, intake_failed_notice
from gs_dagster.partitions import UUID_TAG
from gs_dagster.resources.job_table import JobRecord, JobTable, utc_now
from gs_dagster.resources.notifier import NotifierResource
from gs_dagster.resources.storage import ObjectInfo, StorageResource
from gs_dagster.sensors.intake_cursor import IntakeCursor, IntakeTick, job_uuid_of, printable
from gs_dagster.sensors.intake_rules import (
    IntakeResource,
    arrived,
    copy_continued,
    copy_in_progress,
    media_refusal,
    read_job,
    same_job,
    unfinished_copy,
)
from gs_dagster.sensors.intake_sources import (
    SOURCE_FIELDS,
    known_other,
    later_copies,
    other_file,
    same_upload,
    source_entry,
    upload_stamp,
)

log = logging.getLogger("gs_dagster.intake")

#: What the intake reads of each known job (not the spec): enough to tell handled, resubmitted, refused.
INTAKE_FIELDS = ("status", "failed_at", "run_id", "ended_at", "resubmissions", *SOURCE_FIELDS)


def _refusable(record: JobRecord | None) -> JobRecord | None:
    """The record a refusal replaces: a job refused at intake that never ran (else a new record)."""
    return record if record is not None and record.failed_at == "intake" and not record.run_id else None


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
        result = IntakeTick(cursor=IntakeCursor(cursor.after, cursor.sweeps, dict(cursor.failing)))
        prefix = self.settings.prefix.strip("/") + "/"
        stop = False
        while not stop:
            room = self.settings.max_keys_per_tick - result.listed
            after, size = result.cursor.after, max(1, min(1000, room))
            page = self.store.list_page(prefix, start_after=after, max_keys=size, children_only=False)
            jobs = [o for o in page.objects if o.key.lower().endswith(".json")]
            known = self.table.get_many((job_uuid_of(o.key) for o in jobs), fields=INTAKE_FIELDS)
            later = later_copies(jobs, known, lambda o: arrived(self.store, o))
            for obj in page.objects:
                if (
                    result.handled >= self.settings.max_new_jobs_per_tick
                    or time.monotonic() - started > self.settings.tick_budget_s
                ):
                    stop = True
                    break
                if obj.key.lower().endswith(".json") and obj.key not in later:
                    self._handle_safely(obj, known.get(job_uuid_of(obj.key)), now, result)
                result.cursor.after = obj.key
                result.listed += 1
            if stop:
                break
            if not page.truncated:
                result.cursor = IntakeCursor(
                    "", result.cursor.sweeps + 1, result.cursor.failing, settling=result.cursor.settling
                )
                result.sweep_done = True
                break
            if result.listed >= self.settings.max_keys_per_tick:
                break
        result.seconds = time.monotonic() - started
        return result

    # -- one object ----------------------------------------------------------------------------------

    def _handle_safely(self, obj: ObjectInfo, record: JobRecord | None, now: datetime, result: IntakeTick) -> None:
        """Handle one job file; a failure is retried on the next ticks (a network or table fault passes), and
        after `max_attempts` in a row the job is refused with the error, so no file is retried for ever."""
        arrival = arrived(self.store, obj)  # the same bytes dropped again are a new upload: told by their arrival
        upload = f"{obj.etag} {upload_stamp(arrival)}"  # and a new try after a give-up
        failing = result.cursor.failing.get(obj.key)
        if failing and failing[0] == upload and failing[1] >= self.settings.max_attempts:
            return  # given up on this upload (said once, in the log and, where it could be written, a record)
        try:
            self._handle(obj, record, arrival, now, result)
        except Exception as exc:  # one bad object must not stop the intake
            result.errors += 1
            attempts = result.cursor.attempt_failed(obj.key, upload)
            where = printable(self.store.uri_of(obj.key))
            error = f"{type(exc).__name__}: {exc}"
            if attempts < self.settings.max_attempts:
                self.log.warning(f"intake: {where} not handled (attempt {attempts}), retried next tick: {error}")
                return
            self.log.error(f"intake: {where} failed {attempts} ticks in a row; refusing it: {error}")
            refusal = (
                f"intake could not handle the job file ({attempts} attempts): {error}. If the message names "
                "something in the job file, fix it and upload the file again; otherwise tell the operator."
            )
            try:
                if not self._refuse(self._base(obj, record), _refusable(record), refusal, result):
                    return  # a record of another outcome stands: keep the give-up, say nothing more
            except Exception as again:
                result.cursor.failing[obj.key] = [upload, attempts - 1]  # the refusal itself is retried
                self.log.warning(f"intake: could not record the refusal of {where} (retried next tick): {again}")
                return
        result.cursor.failing.pop(obj.key, None)

    def _base(self, obj: ObjectInfo, old: JobRecord | None) -> JobRecord:
        """The record of one upload of a job file, before its outcome is known."""
        uri = printable(self.store.uri_of(obj.key))
        others = old.other_sources if old else []
        if old and other_file(old, uri):  # a refused file replaced by one in another folder: reported already
            others = [*others, source_entry(old.source_uri, old.source_etag, old.source_modified)]
        return JobRecord(
            uuid=job_uuid_of(obj.key),
            submitted_at=utc_now(),
            updated_at=utc_now(),
            source_uri=uri,
            source_etag=obj.etag,
            source_modified=upload_stamp(arrived(self.store, obj)),
            resubmissions=old.resubmissions if old else 0,
            other_sources=others,
        )

    def _handle(
        self, obj: ObjectInfo, record: JobRecord | None, arrival: datetime, now: datetime, result: IntakeTick
    ) -> None:
        uuid, uri = job_uuid_of(obj.key), printable(self.store.uri_of(obj.key))
        stamp = upload_stamp(arrival)
        if record is None:
            self._intake(obj, uuid, None, now, result)
        elif same_upload(record, obj, arrival) and not other_file(record, uri):
            if record.status == "SUBMITTED" and not record.run_id:
                self._ensure_run(record, result)
        elif known_other(record, obj, uri, arrival):
            return
        elif record.failed_at == "intake" and not record.run_id:
            self._intake(obj, uuid, record, now, result)
        elif self._written_meanwhile(obj, obj, now, result):  # a local copy over the file: once it is done
            return
        elif self._copy_ended(obj, record, uri, arrival):  # the copy taken in, its time set back: said already
            self.table.record_source(
                uuid, old_etag=record.source_etag, old_modified=record.source_modified, etag=obj.etag, modified=stamp
            )
        elif self.table.record_resubmission(
            uuid,
            old_etag=record.source_etag,
            old_modified=record.source_modified,
            etag=obj.etag,
            modified=stamp,
            other_source=source_entry(uri, obj.etag, stamp) if other_file(record, uri) else "",
        ):
            result.duplicates += 1
            self.log.warning(f"intake: job {uuid} uploaded again; a uuid runs once, not starting it")
            self.notifier.notify(duplicate_notice(record, self.store.uri_of(obj.key)), self.log)

    def _copy_ended(self, obj: ObjectInfo, record: JobRecord, uri: str, arrival: datetime) -> bool:
        if other_file(record, uri) or not copy_continued(
            self.store, obj, (record.source_etag, record.source_modified), arrival
        ):
            return False
        full = self.table.get(record.uuid)
        return full is not None and same_job(self.store, obj, full.spec, self.bucket.bucket_name, self.settings)

    def _intake(self, obj: ObjectInfo, uuid: str, old: JobRecord | None, now: datetime, result: IntakeTick) -> None:
        base = self._base(obj, old)
        source = base.source_uri
        spec = read_job(self.store, obj, self.bucket.bucket_name, self.settings)
        if isinstance(spec, str):  # the refusal, in words
            if not self._written_meanwhile(obj, obj, now, result):
                self._refuse(base, old, spec, result)
            return
        base.spec = json.dumps(spec.to_json(), sort_keys=True)
        base.media_uri = self.store.uri_of(spec.s3.media_key)
        media = self.store.head(spec.s3.media_key)
        if media is None:
            waited = (now - arrived(self.store, obj)).total_seconds()
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
        if self._written_meanwhile(obj, media, now, result):  # a part, even one that decodes, is no finding
            return
        problem = unfinished_copy(self.store, media, now, self.settings) or media_refusal(self.store, spec, media)
        if problem:
            self._refuse(base, old, problem, result)
            return
        base.status = "SUBMITTED"
        written = self._replace(base, old) if old else self.table.create(base)
        if not written:
            self.log.info(f"intake: job {uuid} was recorded by someone else meanwhile; skipping")
            return
        result.submitted += 1
        result.new_partitions.append(uuid)
        result.run_requests.append(self.run_request(uuid, source, base))
        self.log.info(f"intake: job {uuid} submitted ({spec.s3.input_key}, {spec.training.max_steps} steps)")

    def _written_meanwhile(self, obj: ObjectInfo, judged: ObjectInfo, now: datetime, result: IntakeTick) -> bool:
        """A local job file refused, or media judged at all, while copied in waits, `media_wait_s` at most after the
        job file (media still written then is refused: intake_rules.unfinished_copy): a part tells nothing."""
        if not copy_in_progress(self.store, obj, judged, now, self.settings):
            return False
        result.deferred += 1
        result.cursor.settling = True
        self.log.info(f"intake: {printable(self.store.uri_of(judged.key))} is being written; judged once left alone")
        return True

    def _refuse(self, record: JobRecord, old: JobRecord | None, error: str, result: IntakeTick) -> bool:
        """Record the job FAILED at intake and send its one notice; False when another record stands."""
        record.status, record.failed_at, record.error = "FAILED", "intake", error
        written = self._replace(record, old) if old else self.table.create(record)
        if written:
            result.refused += 1
            self.log.warning(f"intake: job {record.uuid} refused: {error}")
            self.notifier.notify(intake_failed_notice(record.uuid, record.source_uri, error), self.log)
        return written

    def _replace(self, record: JobRecord, old: JobRecord) -> bool:
        """Replace a refused job's record with this upload's, unless another intake recorded it first."""
        return self.table.replace_intake_failure(record, old_etag=old.source_etag, old_modified=old.source_modified)

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
    def run_request(uuid: str, source: str, record: JobRecord | None = None) -> dg.RunRequest:
        """One run of the job, tagged with its uuid, name (gs_dagster.sensors.run_status.job_tags) and source."""
        from gs_dagster.sensors.run_status import job_tags

        tags = job_tags(record or JobRecord(uuid=uuid, source_uri=source))
        return dg.RunRequest(run_key=uuid, partition_key=uuid, tags={**tags, UUID_TAG: uuid, "gs/source": source})
