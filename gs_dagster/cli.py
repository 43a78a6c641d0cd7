"""`gs-dagster`: submit jobs, read the job table, start the UI, or process jobs without the daemon.

    gs-dagster submit MEDIA [--max-steps N] [--set training.model=splatfacto-big] ...
    gs-dagster status [UUID]
    gs-dagster ui                      # dagster dev with DAGSTER_HOME set and the sensors on
    gs-dagster process [--watch]       # intake + runs in this process (no daemon), e.g. on a headless box
    gs-dagster view [UUID]             # the job library and a 3D viewer on http://127.0.0.1:3100

Configuration comes from environment variables (docs/OPERATING.md); the default is the embedded mode
(local folders, SQLite, log + outbox notices).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from gs_dagster.config import GsConfig, ensure_dagster_home, project_dir


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
    print(f"  media:  {job.media_uri}", file=sys.stderr)
    print(f"  job:    {job.job_uri}", file=sys.stderr)
    print(f"  watch:  {job.watch_url}  (gs-dagster ui)", file=sys.stderr)
    print(f"  status: gs-dagster status {job.uuid}", file=sys.stderr)
    results = f"{config.bucket.rstrip('/')}/{job.spec.s3.output_prefix}/{job.uuid}/"
    print(f"  results will land in {results}", file=sys.stderr)
    return 0


def _job_table(config: GsConfig) -> Any:
    """The job table; a GS_JOB_TABLE it cannot open is a ValueError that says what is accepted."""
    from resources.job_table import open_job_table

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
    from resources.storage import open_store

    return open_store(config.bucket, endpoint_url=config.endpoint_url, region=config.region)


def _intake(config: GsConfig, bucket: Any) -> str:
    """Where job JSON is uploaded (what the intake sensor watches)."""
    return bucket.uri_of(config.intake_prefix) + "/"


def _uploaded(config: GsConfig, bucket: Any, uuid: str) -> str | None:
    """Where `uuid`'s job JSON waits in the intake prefix, when it is there."""
    key = f"{config.intake_prefix}/{uuid}.json"
    return bucket.uri_of(key) if bucket.head(key) is not None else None


def _waiting(config: GsConfig, bucket: Any, table: Any, recorded: set[str], limit: int) -> list[tuple[str, str]]:
    """(uuid, upload time) of the newest job JSONs in the intake prefix that have no job record yet."""
    from gs_dagster.sensors.intake import job_uuid_of

    uploads = []
    for count, info in enumerate(bucket.iter_objects(f"{config.intake_prefix}/", children_only=True)):
        if count >= MAX_INTAKE_KEYS:
            break
        uuid = job_uuid_of(info.key)
        if info.key.lower().endswith(".json") and uuid not in recorded:  # the intake sensor's own test
            uploads.append((uuid, info.modified))
    uploads.sort(key=lambda upload: upload[1], reverse=True)
    newest = uploads[:limit]
    known = table.get_many(uuid for uuid, _ in newest)
    return [(uuid, modified.isoformat()) for uuid, modified in newest if uuid not in known]


def cmd_status(args: argparse.Namespace, config: GsConfig) -> int:
    from gs_dagster.messages import human_seconds, quality_lines

    try:
        table = _job_table(config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.uuid:
        record = table.get(args.uuid)
        if record is None:
            bucket = _bucket(config)
            uploaded = _uploaded(config, bucket, args.uuid)
            if uploaded is None:
                print(f"no job {args.uuid!r} in {config.job_table} or in {_intake(config, bucket)}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps({"uuid": args.uuid, "waiting_for_intake": True, "source_uri": uploaded}, indent=2))
                return 0
            print(f"{args.uuid}: uploaded ({uploaded}), waiting for intake")
            print(f"  {START_INTAKE}")
            return 0
        if args.json:
            print(json.dumps(record.to_dict(), indent=2))
            return 0
        print(f"{record.uuid}: {record.status}")
        for name in ("submitted_at", "started_at", "ended_at", "run_id", "source_uri", "media_uri"):
            if getattr(record, name):
                print(f"  {name}: {getattr(record, name)}")
        if record.elapsed_s is not None:
            print(f"  elapsed: {human_seconds(record.elapsed_s)}")
        if record.stages:
            print(f"  stages of the last run: {', '.join(record.stages)}")
        for key, uri in sorted(record.outputs.items()):
            print(f"  output {key}: {uri}")
        for line in quality_lines(record.metrics):
            print(line)
        if record.resubmissions:
            print(f"  resubmitted {record.resubmissions} time(s) (not run again)")
        if record.error:
            print("  error:")
            for line in record.error.splitlines():
                print(f"    {line}")
        return 0
    records = table.list(limit=args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return 0
    bucket = _bucket(config)
    waiting = _waiting(config, bucket, table, {r.uuid for r in records}, args.limit)
    if not records and not waiting:
        print(f"no jobs in {config.job_table}")
        return 0
    print(f"{'uuid':38} {'status':9} {'submitted':24} {'elapsed':>10}  psnr")
    for uuid, uploaded_at in waiting:
        print(f"{uuid[:38]:38} {'UPLOADED':9} {uploaded_at[:23]:24} {'':>10}  (waiting for intake)")
    for r in records:
        psnr = f"{r.metrics['psnr']:.2f}" if "psnr" in r.metrics else ""
        elapsed = human_seconds(r.elapsed_s) if r.elapsed_s is not None else ""
        print(f"{r.uuid[:38]:38} {r.status:9} {r.submitted_at[:23]:24} {elapsed:>10}  {psnr}")
    if waiting:
        print(f"{len(waiting)} job(s) uploaded to {_intake(config, bucket)} and not taken in yet: {START_INTAKE}")
    return 0


def cmd_ui(args: argparse.Namespace, config: GsConfig) -> int:
    home = ensure_dagster_home()
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster) if dagster.exists() else "dagster", "dev", "-p", str(args.port), "-h", args.host]
    workspace = project_dir() / "workspace.yaml"
    command += ["-w", str(workspace)] if workspace.is_file() else ["-m", "gs_dagster.definitions"]
    print(f"DAGSTER_HOME={home}", file=sys.stderr)
    print(f"starting the UI on http://{args.host}:{args.port} (sensors on); Ctrl-C stops it", file=sys.stderr)
    os.chdir(project_dir())
    os.execvpe(command[0], command, os.environ.copy())
    return 0  # pragma: no cover


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
    return args.func(args, config)


if __name__ == "__main__":
    raise SystemExit(main())
