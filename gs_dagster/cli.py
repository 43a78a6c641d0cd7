"""`gs-dagster`: submit jobs, read the job table, start the UI, or process jobs without the daemon.

    gs-dagster submit MEDIA [--max-steps N] [--set training.model=splatfacto-big] ...
    gs-dagster status [UUID]
    gs-dagster ui                      # dagster dev with DAGSTER_HOME set and the sensors on; SIGTERM stops it
    gs-dagster process [--watch]       # intake + runs in this process (no daemon), e.g. on a headless box
    gs-dagster view [UUID]             # the job library and a 3D viewer on http://127.0.0.1:3100

Configuration comes from environment variables (docs/OPERATING.md); the default is the embedded mode
(local folders, SQLite, log + outbox notices).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from gs_dagster.config import GsConfig, ensure_dagster_home


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE, got {text!r}")
    path, value = text.split("=", 1)
    return path.strip(), _value(value)


def cmd_submit(args: argparse.Namespace, config: GsConfig) -> int:
    from gs_dagster.submit import submit
    from gs_stages.jobspec import JobSpecError

    options: dict[str, Any] = dict(args.options)
    if args.max_steps is not None:
        options["training.maxSteps"] = args.max_steps
    if args.max_images is not None:
        options["videoProcessing.maxNumImages"] = args.max_images
    if args.model:
        options["training.model"] = args.model
    try:
        job = submit(args.media, config=config, uuid=args.uuid, options=options)
    except (JobSpecError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"uuid": job.uuid, "job": job.job_uri, "media": job.media_uri, "watch": job.watch_url}))
        return 0
    print(job.uuid)
    print(f"  name:   {Path(args.media).name}", file=sys.stderr)
    print(f"  media:  {job.media_uri}", file=sys.stderr)
    print(f"  job:    {job.job_uri}", file=sys.stderr)
    print(f"  watch:  {job.watch_url}  (this job's partition in gs-dagster ui)", file=sys.stderr)
    print(f"  status: gs-dagster status {job.uuid}", file=sys.stderr)
    results = f"{config.bucket.rstrip('/')}/{job.spec.s3.output_prefix}/{job.uuid}/"
    print(f"  results will land in {results}", file=sys.stderr)
    return 0


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


def _uploaded(config: GsConfig, bucket: Any, uuid: str) -> str | None:
    """Where `uuid`'s job JSON waits in the intake prefix, when it is there."""
    key = f"{config.intake_prefix}/{uuid}.json"
    return bucket.uri_of(key) if bucket.head(key) is not None else None


def _waiting(config: GsConfig, bucket: Any, table: Any, recorded: set[str]) -> list[tuple[str, str]]:
    """(uuid, upload time) of the job JSONs in the intake prefix that have no job record yet, newest first."""
    from gs_dagster.sensors.intake import job_uuid_of

    uploads = []
    for count, info in enumerate(bucket.iter_objects(f"{config.intake_prefix}/", children_only=True)):
        if count >= MAX_INTAKE_KEYS:
            break
        uuid = job_uuid_of(info.key)
        if info.key.lower().endswith(".json") and uuid not in recorded:  # the intake sensor's own test
            uploads.append((uuid, info.modified))
    uploads.sort(key=lambda upload: upload[1], reverse=True)
    known = table.get_many(uuid for uuid, _ in uploads)
    return [(uuid, modified.isoformat()) for uuid, modified in uploads if uuid not in known]


def _uploaded_name(config: GsConfig, bucket: Any, uuid: str) -> str:
    """The media name a job file waiting for intake gives; "" when it cannot be read (it may be going away)."""
    from gs_dagster.job_names import MAX_NAME_READ, uploaded_job_name

    try:
        return uploaded_job_name(uuid, bucket.read_head(f"{config.intake_prefix}/{uuid}.json", MAX_NAME_READ))
    except Exception:  # gone meanwhile, empty (S3 refuses a range of it), another key case: a name is not worth failing
        return ""


def _queue_places(uploads: list[tuple[str, str]]) -> dict[str, Any]:
    """Each waiting job's place in line (gs_dagster.queue_place); {} when no Dagster instance was started."""
    from gs_dagster.config import default_dagster_home
    from gs_dagster.queue_place import open_instance, queue_places, queued_runs

    try:
        instance = open_instance(default_dagster_home())
        runs = queued_runs(instance) if instance else []
    except Exception as exc:  # an instance that does not open (its database unreachable): the table still shows
        print(f"note: no queue places (the Dagster instance did not answer: {exc})", file=sys.stderr)
        return {}
    return queue_places(runs, uploads)


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
        uploaded = _uploaded(config, bucket, args.uuid)
        if uploaded is None:
            print(f"no job {args.uuid!r} in {config.job_table} or in {_intake(config, bucket)}", file=sys.stderr)
            return 1
        place = _queue_places(_waiting(config, bucket, table, set())).get(args.uuid)
        if args.json:
            found = {"uuid": args.uuid, "waiting_for_intake": True, "source_uri": uploaded}
            print(json.dumps({**found, "queue_place": place.place if place else None}, indent=2))
            return 0
        print(f"{args.uuid}: uploaded ({uploaded}), waiting for intake")
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
    for uuid, uploaded_at in waiting:
        queue, name = place_column(places.get(uuid)), fit(_uploaded_name(config, bucket, uuid), 24)
        waits = "(waiting for intake)"
        print(f"{uuid[:36]:36} {name:24} {'UPLOADED':9} {queue:>7} {uploaded_at[:23]:24} {'':>10} {'':>6}  {waits}")
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


def cmd_ui(args: argparse.Namespace, config: GsConfig) -> int:
    from gs_dagster.dev_server import run_dagster_dev

    return run_dagster_dev(host=args.host, port=args.port, log_level=args.log_level)


def cmd_process(args: argparse.Namespace, config: GsConfig) -> int:
    import dagster as dg

    from gs_dagster.definitions import build_definitions
    from gs_dagster.embedded import EmbeddedRunner

    ensure_dagster_home()
    runner = EmbeddedRunner(build_definitions(config), dg.DagsterInstance.get())
    while True:
        for result in runner.process():
            print(f"run {result.run_id}: {'success' if result.success else 'failure'}", file=sys.stderr)
        if not args.watch:
            return 0
        time.sleep(args.interval)


def cmd_view(args: argparse.Namespace, config: GsConfig) -> int:
    from gs_dagster.viewer.cli import serve

    return serve(config, args.uuid, args.host, args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gs-dagster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("submit", help="upload media and a new job JSON; prints the job uuid")
    p.add_argument("media", help="a video (.mp4, .mov) or a .zip of images")
    p.add_argument("--uuid", help="job uuid (default: a new random uuid)")
    p.add_argument("--max-steps", type=int, help="training.maxSteps")
    p.add_argument("--max-images", type=int, help="videoProcessing.maxNumImages")
    p.add_argument("--model", help="training.model")
    p.add_argument(
        "--set", dest="options", action="append", default=[], type=_option, metavar="PATH=VALUE",
        help="any job option by JSON path, e.g. sfm.matchingMethod=exhaustive (repeatable)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON line instead")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="read the job table (one job, or the latest jobs)")
    p.add_argument("uuid", nargs="?")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("ui", help="start the Dagster UI and daemon (sensors on) with DAGSTER_HOME set")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--log-level", default="warning", choices=("debug", "info", "warning", "error"),
        help="the daemon's and webserver's own log level (default warning: no line per sensor tick; runs, "
        "intake and notices still print)",
    )  # fmt: skip
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("process", help="run the intake and the requested runs in this process (no daemon)")
    p.add_argument("--watch", action="store_true", help="keep polling")
    p.add_argument("--interval", type=float, default=30.0)
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("view", help="serve the job library and a 3D viewer of each job's splat; prints the URL")
    p.add_argument("uuid", nargs="?", help="print the URL that opens this job's viewer")
    p.add_argument("--port", type=int, default=3100, help="0 picks a free port (links in the UI assume 3100)")
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_view)

    args = parser.parse_args(argv)
    try:
        config = GsConfig.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        code = args.func(args, config)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # the reader went away (`gs-dagster status | head`): stop quietly, as `cat` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail on the closed pipe again
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    raise SystemExit(main())
