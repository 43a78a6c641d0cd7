"""The SageMaker training-container entrypoint: `/opt/ml` in, stage outputs to S3, Pipes messages to S3.

SageMaker starts the image as `<entrypoint> train`. What the launcher (`resources/sagemaker_request.py`) put in
the CreateTrainingJob request arrives here as:

    /opt/ml/input/config/hyperparameters.json   stages, output root, job name, job spec (all strings)
    /opt/ml/input/data/<channel>/                one channel per upstream stage dir, plus `media`
    /opt/ml/checkpoints/                         synced with the job's CheckpointConfig S3 location
    DAGSTER_PIPES_CONTEXT / DAGSTER_PIPES_MESSAGES  Pipes bootstrap (S3 context + S3 message chunks)

The stages run in this process (`gs_stages.cli.run_chain`, one stage at a time) on a local
`<work>/<stage>/<uuid>/` layout whose upstream dirs are the input channels. Each finished stage is
published to `<output root>/<stage>/<uuid>/` (metrics.json last, then a completion marker naming this
training job) once its report and checks went out and no blocking check failed, so a container that
SageMaker restarts (managed spot interruption, retry) skips what is already complete and re-reports it
only when its report never reached S3: message chunks continue the numbering of the previous
container, none is overwritten. The output root is the launch's staging prefix: the launcher moves
each complete stage to the storage root once the job has ended (resources/stage_outputs.py), so the
last good output stays in place while the job runs, fails or is stopped.

stdout/stderr go to S3 with the Pipes messages (and still to CloudWatch for humans); Dagster never
polls CloudWatch. A failure's message goes to /opt/ml/output/failure, which SageMaker shows as the
job's FailureReason. `GS_OPT_ML` relocates /opt/ml (tests run this in a temporary directory).
Exit codes: 0 done, 2 a problem with the input or options, 1 a bug, 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import stat
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

from gs_stages.sagemaker_contract import (  # noqa: F401 (the contract, re-exported)
    CHECKPOINT_LOCAL_PATH,
    EXIT_TERMINATED,
    FAILURE_MAX_CHARS,
    HP_JOB_NAME,
    HP_OUTPUT_ROOT,
    HP_SETTINGS,
    HP_SPEC,
    HP_SPEC_Z,
    HP_STAGES,
    MARKER,
    MEDIA_CHANNEL,
    OPT_ML_ENV,
    PIPES_INTERVAL_ENV,
    RUN_AS_ENV,
    WORK_DIR_ENV,
    decode_spec,
    opt_ml,
    split_s3_uri,
)
from gs_stages.sagemaker_messages import ResumableS3MessageWriter
from gs_stages.sagemaker_publish import Publisher, PublishingReporter

log = logging.getLogger("gs_stages.sagemaker")


# -- the container run ---------------------------------------------------------------------------------
class Terminated(BaseException):
    """SIGTERM: SageMaker stops the job, or reclaims the spot instance (the job may restart)."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def claim_sigterm() -> None:
    """Make SIGTERM this entrypoint's, after the native libraries that take it for themselves.

    pycolmap (COLMAP's glog) installs a failure-signal handler for SIGTERM when it is first imported,
    over any earlier handler: a stop then prints a stack trace and re-raises the signal, which kills a
    process without flushing its messages, and which the first process of a container (this
    entrypoint, in the image) ignores, so the container trained on until SageMaker killed it.
    Importing it first and installing ours after keeps a stop graceful (exit 143); SIGTERM is blocked
    meanwhile, so a stop that comes during the import waits for our handler instead of meeting glog's.
    The chain claims the signal again before each stage, for a library a stage imports later.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        with suppress(ImportError):
            import pycolmap  # noqa: F401  (imported for the handler it installs, replaced below)
        signal.signal(signal.SIGTERM, _on_sigterm)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending stop is delivered now


def write_failure(message: str) -> None:
    path = opt_ml() / "output" / "failure"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(message[:FAILURE_MAX_CHARS])


def _find_media(channel: Path, input_key: str) -> Path:
    named = channel / input_key
    if named.is_file():
        return named
    files = [p for p in channel.rglob("*") if p.is_file()]
    if len(files) != 1:
        raise FileNotFoundError(f"expected the media file {input_key!r} in {channel}, found {len(files)} file(s)")
    return files[0]


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.symlink_to(target.resolve(), target_is_directory=True)


def _readable_by_all(top: Path) -> None:
    """o+r on files, o+rx on directories under `top`, and o+x on its parents (to reach it)."""
    for parent in top.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for directory, _dirs, files in os.walk(top):
        os.chmod(directory, os.stat(directory).st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = os.path.join(directory, name)
            os.chmod(path, os.stat(path).st_mode | stat.S_IROTH)


def drop_privileges(writable: list[Path], readable: list[Path] = ()) -> str | None:
    """Give the writable parts of /opt/ml to $GS_RUN_AS, open the readable ones, continue as that user.

    SageMaker starts training containers as root with /opt/ml owned by root; the image names an
    unprivileged user, so only this setup runs as root. Returns the user now running, or None when
    nothing changed (not root, or no GS_RUN_AS, as in tests).
    """
    user = os.environ.get(RUN_AS_ENV, "").strip()
    if not user or os.geteuid() != 0:
        return None
    import pwd

    try:
        record = pwd.getpwnam(user)
    except KeyError:
        log.warning("%s=%s: no such user; running as root", RUN_AS_ENV, user)
        return None
    for top in readable:
        if top.exists():
            _readable_by_all(top)
    for top in writable:
        top.mkdir(parents=True, exist_ok=True)
        _readable_by_all(top)
        for directory, _dirs, files in os.walk(top):
            os.chown(directory, record.pw_uid, record.pw_gid)
            for name in files:
                os.chown(os.path.join(directory, name), record.pw_uid, record.pw_gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(record.pw_gid)
    os.setuid(record.pw_uid)
    os.environ["HOME"] = record.pw_dir
    return user


def run() -> int:
    import boto3
    from dagster_pipes import PipesEnvVarParamsLoader, PipesS3ContextLoader, open_dagster_pipes

    import gs_stages.reporter as reporting
    from gs_stages.cli import run_chain
    from gs_stages.jobspec import parse_job
    from gs_stages.stage import STAGE_ORDER, STAGES, StageError, chain_dir

    base = opt_ml()
    work = Path(os.environ.get(WORK_DIR_ENV) or base / "gs-work")
    checkpoints = Path(str(base) + CHECKPOINT_LOCAL_PATH[len("/opt/ml") :])
    writable = [base / "model", base / "output", work] + ([checkpoints] if checkpoints.is_dir() else [])
    user = drop_privileges(writable, readable=[base / "input"])
    hyperparameters = json.loads((base / "input" / "config" / "hyperparameters.json").read_text())
    spec = parse_job(decode_spec(hyperparameters))
    logging.basicConfig(
        level=spec.log_verbosity.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    stages = sorted((s.strip() for s in hyperparameters[HP_STAGES].split(",") if s.strip()), key=STAGE_ORDER.index)
    job_name = hyperparameters[HP_JOB_NAME]
    settings: dict[str, Any] = json.loads(hyperparameters.get(HP_SETTINGS) or "{}")
    if user:
        log.info("running the stages as %s", user)
    channels = base / "input" / "data"
    s3 = boto3.client("s3")
    publisher = Publisher(s3, hyperparameters[HP_OUTPUT_ROOT], spec.uuid, job_name)

    writer: ResumableS3MessageWriter | None = None
    if PipesEnvVarParamsLoader().is_dagster_pipes_process():
        interval = float(os.environ.get(PIPES_INTERVAL_ENV, "5"))
        writer = ResumableS3MessageWriter(s3, interval=interval)
        open_dagster_pipes(context_loader=PipesS3ContextLoader(s3), message_writer=writer)
        inner: Any = reporting.PipesReporter()  # takes the context opened above
    else:
        inner = reporting.Reporter()
    reporter = PublishingReporter(
        inner, publisher, writer.history if writer else [], writer.flush if writer else (lambda: None)
    )
    reporting._reporter = reporter  # run_stage reports through gs_stages.reporter.reporter()

    current = stages[0] if stages else "chain"
    try:
        # Upstream stage dirs are the input channels, linked into the chain layout.
        for channel in sorted(p for p in channels.glob("*") if p.is_dir()):
            if channel.name in STAGES:
                _link(chain_dir(work, channel.name, spec.uuid), channel)
        media = _find_media(channels / MEDIA_CHANNEL, spec.s3.input_key) if "frames" in stages else None

        remaining = list(stages)
        while remaining:  # a restarted container skips the completed prefix of the chain
            metrics = publisher.completed_metrics(remaining[0])
            if metrics is None:
                break
            stage = remaining.pop(0)
            output = chain_dir(work, stage, spec.uuid)
            count = publisher.download(stage, output)
            log.info("stage %s: complete from an earlier container (%d file(s)); not run again", stage, count)
            reporter.report(stage, output, metrics)

        if "splat" in remaining and checkpoints.is_dir():
            # The trainer writes and resumes <output>/checkpoints; SageMaker syncs /opt/ml/checkpoints.
            _link(chain_dir(work, "splat", spec.uuid) / "checkpoints", checkpoints)

        for current in remaining:
            signal.signal(signal.SIGTERM, _on_sigterm)  # see claim_sigterm
            run_chain([current], spec, work, media, settings)
    except Terminated:
        log.warning("SIGTERM: flushing messages; the Pipes session stays open for a restarted container")
        if writer:
            writer.flush()
        return EXIT_TERMINATED
    except (StageError, FileNotFoundError) as exc:
        current = getattr(exc, "stage", None) or current  # a chain's up-front check names its stage
        write_failure(f"{current}: {exc}")
        reporter.stage_failed(current, str(exc))
        _close_with(exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        write_failure(f"{current}: {type(exc).__name__}: {exc}")
        log.exception("stage %s crashed", current)
        _close_with(exc)
        return 1
    finally:
        reporting._reporter = None
    reporter.close()
    return 0


def _close_with(exc: BaseException) -> None:
    """Close the Pipes session reporting `exc` (Dagster shows it as the external process's error)."""
    from dagster_pipes import PipesContext

    if PipesContext.is_initialized():
        context = PipesContext.get()
        if hasattr(context, "is_closed") and not context.is_closed:
            context.__exit__(type(exc), exc, exc.__traceback__)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in ("train",):
        print(f"usage: {Path(sys.argv[0]).name} [train]  (SageMaker passes 'train')", file=sys.stderr)
        return 2
    try:
        claim_sigterm()
        return run()
    except Terminated:
        return EXIT_TERMINATED
    except Exception as exc:  # before the chain started: bad hyperparameters, no spec, S3 unreachable
        write_failure(f"container setup: {type(exc).__name__}: {exc}")
        logging.getLogger("gs_stages").exception("container setup failed")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
