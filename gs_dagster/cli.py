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
import sys
import time
from pathlib import Path
from typing import Any

from gs_dagster.config import GsConfig, ensure_dagster_home
from gs_dagster.status_cli import cmd_status


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
