"""`gs-dagster status [UUID]`: the job table's records, one job in full or the latest ones, with where each
stands (queue place, stage, step, ETA) and the uploads the intake sensor has not taken in yet."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import TYPE_CHECKING, Any

from gs_dagster.config import GsConfig

if TYPE_CHECKING:
    from gs_dagster.waiting_uploads import WaitingUpload


def _job_table(config: GsConfig) -> Any:
    """The job table; a GS_JOB_TABLE it cannot open is a ValueError that says what is accepted."""
    from gs_dagster.resources.job_table import open_job_table

    try:
        return open_job_table(config.job_table, endpoint_url=config.endpoint_url, region=config.region)
    except ValueError as exc:  # a form other than sqlite:///path or dynamodb://table
        raise ValueError(f"GS_JOB_TABLE: {exc}") from None
    except (OSError, sqlite3.Error) as exc:  # a SQLite path that cannot be created or opened
        raise ValueError(f"GS_JOB_TABLE={config.job_table}: cannot open the job table: {exc}") from None


#: How a job JSON in the intake prefix gets taken in (README, docs/OPERATING.md "Running it").
START_INTAKE = (
    "the intake sensor takes jobs in (validates, records, starts the run) only while Dagster runs: "
    "`.venv/bin/gs-dagster ui` (the UI with the daemon and sensors) or, without the daemon, "
    "`.venv/bin/gs-dagster process` (`--watch` keeps polling)"
)
#: `status` looks at no more intake keys than this for uploads not taken in yet.
MAX_INTAKE_KEYS = 10_000


def _bucket(config: GsConfig) -> Any:
    from gs_dagster.resources.storage import open_store

    return open_store(config.bucket, endpoint_url=config.endpoint_url, region=config.region)


def _intake(config: GsConfig, bucket: Any) -> str:
    """Where job JSON is uploaded (what the intake sensor watches)."""
    return bucket.uri_of(config.intake_prefix) + "/"


def _job_key(config: GsConfig, bucket: Any, uuid: str) -> str | None:
    """The key of `uuid`'s job JSON in the intake prefix: `<prefix>/<uuid>.json`, else the first in a folder
    under it (the intake takes those too), when it is there."""
    from gs_dagster.sensors.intake import job_uuid_of

    key = f"{config.intake_prefix}/{uuid}.json"
    if bucket.head(key) is not None:
        return key
    for count, info in enumerate(bucket.iter_objects(f"{config.intake_prefix}/")):
        if count >= MAX_INTAKE_KEYS:
            break
        if info.key.lower().endswith(".json") and job_uuid_of(info.key) == uuid:
            return info.key
    return None


def _waiting(config: GsConfig, bucket: Any, table: Any, recorded: set[str]) -> list[WaitingUpload]:
    """The uuids with job JSON in the intake prefix and no job record yet, newest first, one per uuid: the file
    the intake runs and the others it reports (gs_dagster.waiting_uploads)."""
    from gs_dagster.waiting_uploads import waiting_uploads

    return waiting_uploads(bucket, table, config.intake_prefix, recorded, MAX_INTAKE_KEYS)


def _later_copies(bucket: Any, upload: WaitingUpload) -> str:
    """What the intake does with a waiting uuid's other job files, in words; "" when it has none."""
    if not upload.later:
        return ""
    names = ", ".join(bucket.uri_of(key) for key in upload.later)
    return (
        f"also uploaded as {names}: a later copy, reported as a resubmission and not run once this file is taken "
        "in (taken in instead if this file is refused)"
    )


def _job_head(bucket: Any, job_key: str) -> bytes | None:
    """The head of a job file waiting for intake, read once for its name and its media; None when it cannot be
    read (gone meanwhile, empty: S3 refuses a range of it, another key case)."""
    from gs_dagster.job_names import MAX_NAME_READ

    try:
        return bucket.read_head(job_key, MAX_NAME_READ)
    except Exception:  # a name or a media line is not worth failing the status for
        return None


def _uploaded_name(uuid: str, head: bytes | None) -> str:
    """The media name a job file waiting for intake gives; "" when it cannot be read (it may be going away)."""
    from gs_dagster.job_names import uploaded_job_name

    try:
        return uploaded_job_name(uuid, head) if head is not None else ""
    except Exception:  # an unreadable head: a name is not worth failing
        return ""


def _media_wait(bucket: Any, head: bytes | None) -> tuple[str, float | None]:
    """What a job file waiting for intake waits for: its media's URI, and the seconds since it changed when it is
    there but written a moment ago (a local file the intake judges once left alone, intake_rules.QUIET_S: a copy
    may still be going on); ("", None) when the media is there and quiet, or the job file names none readably
    (the intake will say what it is); (URI, None) when it is not there."""
    from datetime import UTC, datetime

    from gs_dagster.job_names import uploaded_media_key
    from gs_dagster.sensors.intake_rules import arrived, still_written

    now = datetime.now(UTC)
    try:
        key = uploaded_media_key(head) if head is not None else None
        media = bucket.head(key) if key else None
        if key and media is None:
            return bucket.uri_of(key), None
        if media is not None and still_written(bucket, media, now):
            return bucket.uri_of(key), (now - arrived(bucket, media)).total_seconds()
    except Exception:  # gone meanwhile, empty, a key the bucket refuses: the intake will say what it is
        pass
    return "", None


def _queue_places(uploads: list[WaitingUpload]) -> dict[str, Any]:
    """Each waiting job's place in line (gs_dagster.queue_place); {} when no Dagster instance was started."""
    from gs_dagster.config import default_dagster_home
    from gs_dagster.queue_place import open_instance, queue_places, queued_runs

    try:
        instance = open_instance(default_dagster_home())
        runs = queued_runs(instance) if instance else []
    except Exception as exc:  # an instance that does not open (its database unreachable): the table still shows
        print(f"note: no queue places (the Dagster instance did not answer: {exc})", file=sys.stderr)
        return {}
    return queue_places(runs, [(upload.uuid, upload.uploaded_at) for upload in uploads])


def _status_one(args: argparse.Namespace, config: GsConfig, table: Any) -> int:
    from gs_dagster.job_names import job_name
    from gs_dagster.progress import positions
    from gs_dagster.resources.job_table import TERMINAL
    from gs_dagster.status_view import print_job

    problem = _not_a_uuid(args.uuid)
    record = table.get(args.uuid) if not problem or _recordable(args.uuid) else None
    if record is None and problem:  # never a key to look up in the bucket
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if record is None:
        bucket = _bucket(config)
        uploads = _waiting(config, bucket, table, set())
        upload = next((u for u in uploads if u.uuid == args.uuid), None)
        job_key = upload.key if upload else _job_key(config, bucket, args.uuid)
        if job_key is None:
            print(f"no job {args.uuid!r} in {config.job_table} or in {_intake(config, bucket)}", file=sys.stderr)
            return 1
        place = _queue_places(uploads).get(args.uuid)
        uploaded, (media, written_ago) = bucket.uri_of(job_key), _media_wait(bucket, _job_head(bucket, job_key))
        later = _later_copies(bucket, upload) if upload else ""
        if args.json:
            found = {"uuid": args.uuid, "waiting_for_intake": True, "source_uri": uploaded}
            found["later_copies"] = [bucket.uri_of(key) for key in upload.later] if upload else []
            found["waiting_for_media"] = media if media and written_ago is None else None
            found["media_written_recently"] = media if written_ago is not None else None
            print(json.dumps({**found, "queue_place": place.place if place else None}, indent=2))
            return 0
        if written_ago is not None:
            from gs_dagster.sensors.intake_rules import QUIET_S

            print(f"{args.uuid}: uploaded ({uploaded}), waiting for intake: its media {media} changed")
            print(f"  {written_ago:.0f} s ago; the intake judges it once left alone {QUIET_S:.0f} s (a copy may go on)")
        elif media:
            print(f"{args.uuid}: uploaded ({uploaded}), waiting for its media {media}")
            wait = f"{config.media_wait_s:.0f} s after the job file's upload (GS_MEDIA_WAIT_S)"
            print(f"  upload it there; the intake refuses the job {wait} if it is still missing")
        else:
            print(f"{args.uuid}: uploaded ({uploaded}), waiting for intake")
        if later:
            print(f"  {later}")
        if place is not None:
            print(f"  queue place: {place.text()}")
        print(f"  {START_INTAKE}")
        return 0
    place = None
    if record.status == "SUBMITTED":  # its run may wait in the queue, behind others and before uploads
        place = _queue_places(_waiting(config, _bucket(config), table, {record.uuid})).get(record.uuid)
    position = positions([record.uuid]).get(record.uuid) if record.status not in TERMINAL else None
    if args.json:
        extra = {"name": job_name(record), "queue_place": place.place if place else None}
        if position is not None:
            extra["progress"] = position.to_dict()
        print(json.dumps({**record.to_dict(), **extra}, indent=2))
        return 0
    print_job(record, place, position.line() if position is not None else None)
    return 0


def _not_a_uuid(uuid: str) -> str:
    """Why `uuid` cannot name a job (the job JSON's own rule), said with what to do, or ""."""
    from gs_stages.jobspec import uuid_problem

    problem = uuid_problem(uuid)
    return f"{uuid[:60]!r} is not a job uuid: {problem}. `gs-dagster status` lists the jobs" if problem else ""


def _recordable(name: str) -> bool:
    """A name a refused job file may be recorded under (intake keeps a record of `.x.json` as '.x'): looked
    up in the table only, so an odd argument shows that record instead of an error."""
    return 0 < len(name.encode("utf-8", "surrogateescape")) <= 1024 and "/" not in name


def cmd_status(args: argparse.Namespace, config: GsConfig) -> int:
    from gs_dagster.job_names import job_name
    from gs_dagster.messages import human_seconds
    from gs_dagster.progress import RunPosition, positions
    from gs_dagster.resources.job_table import TERMINAL
    from gs_dagster.status_view import fit, place_column

    try:
        table = _job_table(config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.uuid:
        return _status_one(args, config, table)
    records = table.list(limit=args.limit)
    if args.json:
        print(json.dumps([{**r.to_dict(), "name": job_name(r)} for r in records], indent=2))
        return 0
    bucket = _bucket(config)
    uploads = _waiting(config, bucket, table, {r.uuid for r in records})
    waiting = uploads[: args.limit]
    if not records and not waiting:
        print(f"no jobs in {config.job_table}")
        return 0
    places = _queue_places(uploads) if waiting or any(r.status == "SUBMITTED" for r in records) else {}
    running = positions([r.uuid for r in records if r.status not in TERMINAL])
    head = f"{'uuid':36} {'name':24} {'status':9} {'queue':>7} {'submitted':24} {'elapsed':>10} {'psnr':>6}"
    print(f"{head}  {'stage':24} {'step':>13} {'ETA':>8}")
    for upload in waiting:
        uuid, at = upload.uuid, upload.uploaded_at[:23]
        head = _job_head(bucket, upload.key)
        queue, name = place_column(places.get(uuid)), fit(_uploaded_name(uuid, head), 24)
        media, written_ago = _media_wait(bucket, head)
        waits = (
            "(waiting for intake: its media just written"
            if written_ago is not None
            else "(waiting for its media"
            if media
            else "(waiting for intake"
        )
        later = ", ".join(upload.later)
        runs = f"; runs {upload.key}; later copy {later}: reported, or taken in if that is refused" if later else ""
        print(f"{uuid[:36]:36} {name:24} {'UPLOADED':9} {queue:>7} {at:24} {'':>10} {'':>6}  {waits}{runs})")
    for r in records:
        psnr = f"{r.metrics['psnr']:.2f}" if "psnr" in r.metrics else ""
        elapsed = human_seconds(r.elapsed_s) if r.elapsed_s is not None else ""
        queue = place_column(places.get(r.uuid)) if r.status == "SUBMITTED" else ""
        name = fit(job_name(r), 24)
        at = running.get(r.uuid) or RunPosition(stage="")
        line = f"{r.uuid[:36]:36} {name:24} {r.status:9} {queue:>7} {r.submitted_at[:23]:24} {elapsed:>10} {psnr:>6}"
        print(f"{line}  {at.stage[:24]:24} {at.step:>13} {at.eta:>8}".rstrip())
    if waiting:
        print(f"{len(waiting)} job(s) uploaded to {_intake(config, bucket)} and not taken in yet: {START_INTAKE}")
    return 0
