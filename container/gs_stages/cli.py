"""`python -m gs_stages`: run one stage, or several stages of one job in one process.

    python -m gs_stages frames --spec job.json --input media=video.mp4 --output out/frames
    python -m gs_stages chain --spec job.json --media video.mp4 --root out --stages frames,masks,sparse_model

Each stage writes `metrics.json` into its output directory. Under Dagster Pipes the metrics are also
reported as the materialization of the asset of the same name (see `gs_stages.reporter`).
Exit codes: 0 ok, 2 a problem with the input or options (message says what to fix), 1 a bug.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from gs_stages.capabilities import StageHost, check_supported
from gs_stages.jobspec import JobSpec, JobSpecError, load_job, parse_job
from gs_stages.layout import CHECKPOINTS_DIR, write_complete_marker
from gs_stages.stage import (
    STAGE_ORDER,
    STAGES,
    StageContext,
    StageDef,
    StageError,
    chain_dir,
    check_settings,
    did_you_mean,
)

log = logging.getLogger("gs_stages")

#: What a stage that fails keeps of what it wrote: the splat stage's next run resumes from its newest
#: checkpoint (as after a kill). Everything else a failed stage created is removed.
KEPT_AFTER_FAILURE: dict[str, tuple[str, ...]] = {"splat": (CHECKPOINTS_DIR,)}
#: OSErrors of the machine rather than of the code: a full disk or quota, a folder the stage may not write.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR})


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _load_spec(path: str, overrides: list[tuple[str, str]]) -> JobSpec:
    # The file name need not match the uuid here: launchers stage the spec under any name.
    spec = parse_job(Path(path).read_bytes()) if path.endswith(".json") else load_job(path)
    if overrides:
        spec = spec.with_overrides({k: _json_value(v) for k, v in overrides})
    return spec


def run_stage(
    stage: str,
    spec: JobSpec,
    inputs: dict[str, Path],
    output: Path,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one stage in this process and return its metrics (also written to `<output>/metrics.json`)."""
    from gs_stages.reporter import reporter

    definition = STAGES[stage]
    _check_inputs(definition, inputs)
    check_settings(settings or {})  # a mistyped name fails here instead of silently keeping the default
    created = _first_missing(output)
    before = {entry.name for entry in output.iterdir()} if output.is_dir() else set()
    log.info("stage %s: start (job %s)", stage, spec.uuid)
    started = time.perf_counter()
    try:
        output.mkdir(parents=True, exist_ok=True)
        context = StageContext(stage=stage, spec=spec, inputs=inputs, output=output, settings=settings or {})
        metrics = dict(definition.load()(context) or {})
        metrics.setdefault("stage_seconds", round(time.perf_counter() - started, 3))
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
    except (StageError, OSError) as exc:
        if not isinstance(exc, StageError) and exc.errno not in STORAGE_ERRNOS:
            raise
        # A refused input, or a full or read-only disk, leaves nothing this run created (an empty images/, a
        # half-written model): the folder (and any parent it made) goes, or in a folder that was there only
        # the new entries do (KEPT_AFTER_FAILURE aside). A crash (a bug) keeps what it wrote, for the report.
        _remove_created(output, created, before, KEPT_AFTER_FAILURE.get(stage, ()))
        if isinstance(exc, StageError):
            raise
        raise storage_error(exc, output) from exc
    log.info("stage %s: done in %.1f s", stage, metrics["stage_seconds"])
    reporter().stage_done(stage, output, metrics)  # raises when a blocking quality check fails
    # Last: launchers keep this output (and replace the previous one) only when the marker is there.
    write_complete_marker(output, stage, spec.uuid)
    return metrics


def _existing(path: Path) -> Path:
    """The path, or its nearest parent that exists (where a full disk can be measured)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def storage_error(exc: OSError, output: Path) -> StageError:
    """A full disk, a quota, a read-only or forbidden folder (STORAGE_ERRNOS): the operator's to fix, not a
    bug, and said so with the path."""
    where = f" (writing {exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(_existing(output)).free
        return StageError(
            f"no space left on the disk of {output}{where}; {free / 1e6:,.1f} MB are free once this stage's "
            "partial output is removed",
            hint="free disk space there, or point the stage output (GS_STORAGE_ROOT, or --output/--root) at a "
            "disk with room, then run the job again",
        )
    return StageError(
        f"the stage may not write or read {exc.filename or output}: {exc.strerror} (stage output: {output})",
        hint="make the folder writable for the user that runs the stages (a part of the path that is a file "
        "must be a folder), or point the stage output (GS_STORAGE_ROOT, or --output/--root) elsewhere",
    )


def _check_inputs(definition: StageDef, inputs: dict[str, Path]) -> None:
    """Every input the stage needs is given, and no name it does not take (a typo would go unread)."""
    takes = definition.inputs + definition.optional_inputs
    missing = [name for name in definition.inputs if name not in inputs]
    unknown = [name for name in inputs if name not in takes]
    if not (missing or unknown):
        return
    problems = [f"needs input(s) {', '.join(missing)}"] if missing else []
    if unknown:
        given = ", ".join(f"{name!r}{did_you_mean(name, takes)}" for name in unknown)
        problems.append(f"does not take input(s) {given}")
    optional = f" (optional: {', '.join(definition.optional_inputs)})" if definition.optional_inputs else ""
    raise StageError(
        f"stage {definition.name!r} {'; it '.join(problems)}",
        hint=f"the {definition.name} stage takes --input NAME=PATH for {', '.join(definition.inputs)}{optional}",
    )


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (what mkdir(parents=True) creates)."""
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _remove_created(output: Path, created: Path | None, before: set[str], keep: tuple[str, ...]) -> None:
    for entry in output.iterdir() if output.is_dir() else ():
        if entry.name in before or entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if created is not None and output.is_dir() and not any(output.iterdir()):
        shutil.rmtree(created, ignore_errors=True)  # the empty output and the parents this run made


def run_chain(
    stages: list[str],
    spec: JobSpec,
    root: Path,
    media: Path | None,
    settings: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run several stages of one job in order, in one process (one container start on SageMaker)."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise StageError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGE_ORDER)}")
    # A job this build can never finish fails here, every reason listed, before any stage spends time.
    check_supported(spec, stages, StageHost(settings or {}))
    check_settings(settings or {})  # one dict for every stage: a name any stage reads is accepted
    if "masks" in stages:
        from gs_stages.masks.weights import check_configured

        check_configured(spec, settings or {})
        if spec.segmentation.remove_background and spec.segmentation.background_removal_model == "sam2":
            from gs_stages.masks.sam2_masks import sam2_python

            sam2_python(settings or {})  # a Python without sam2 fails the chain before frames runs
    if "splat" in stages and spec.training.enable and spec.training.model == "3dgrt":
        from gs_stages.grt.environment import grt_python

        grt_python(settings or {})  # 3DGRUT's Python must import it before frames and SfM spend their time
    results: dict[str, dict[str, Any]] = {}
    for stage in sorted(stages, key=STAGE_ORDER.index):
        definition = STAGES[stage]
        inputs: dict[str, Path] = {}
        for name in definition.inputs + definition.optional_inputs:
            if name == "media":
                if media is None:
                    raise StageError("the frames stage needs --media")
                inputs[name] = media
            else:
                inputs[name] = chain_dir(root, name, spec.uuid)
        results[stage] = run_stage(stage, spec, inputs, chain_dir(root, stage, spec.uuid), settings)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gs_stages", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default=None, help="debug, info, warning, error (default: the job's)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--spec", required=True, help="job JSON file")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            type=_key_value,
            metavar="PATH=VALUE",
            help="override a job option, e.g. training.maxSteps=500 (JSON path as in the job file)",
        )
        p.add_argument(
            "--setting",
            dest="settings",
            action="append",
            default=[],
            type=_key_value,
            metavar="NAME=VALUE",
            help="engine setting outside the job JSON, e.g. max_image_side=800",
        )

    for name, definition in STAGES.items():
        p = sub.add_parser(name, help=f"run the {name} stage")
        common(p)
        p.add_argument(
            "--input",
            dest="inputs",
            action="append",
            default=[],
            type=_key_value,
            metavar="NAME=PATH",
            help=f"input locations: {', '.join(definition.inputs + definition.optional_inputs)}",
        )
        p.add_argument("--output", required=True, help="output directory")

    chain = sub.add_parser("chain", help="run several stages of one job in one process")
    common(chain)
    chain.add_argument("--root", required=True, help="root of the <root>/<stage>/<uuid>/ layout")
    chain.add_argument("--media", default=None, help="the job's media file (for the frames stage)")
    chain.add_argument("--stages", default=",".join(STAGE_ORDER), help="comma-separated stage names")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = _load_spec(args.spec, args.overrides)
    except (JobSpecError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=(args.log_level or spec.log_verbosity).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = {k: _json_value(v) for k, v in args.settings}
    try:
        if args.command == "chain":
            stages = [s.strip() for s in args.stages.split(",") if s.strip()]
            run_chain(stages, spec, Path(args.root), Path(args.media) if args.media else None, settings)
        else:
            inputs = {k: Path(v) for k, v in args.inputs}
            run_stage(args.command, spec, inputs, Path(args.output), settings)
    except StageError as exc:
        from gs_stages.reporter import reporter

        reporter().stage_failed(exc.stage or args.command, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # A bug, not the user's input: the job record and the notice get the error itself (not only "exited
        # with code 1"), the traceback goes to the log for whoever fixes it.
        from gs_stages.reporter import reporter

        log.exception("stage %s crashed", args.command)
        reporter().stage_failed(
            args.command,
            f"internal error {type(exc).__name__}: {exc} (a fault in gs-dagster, not in the job; the traceback is "
            "in the run's log)",
        )
        return 1
    finally:
        from gs_stages.reporter import close_reporter

        close_reporter()
    return 0
