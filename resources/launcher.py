"""Stage launchers: run some stages of one job, somewhere, and stream back what they report (Pipes).

The interface is one call::

    launcher.launch(context, stages, spec, locations, settings=..., extras=...) -> Iterator[result]

`stages` are the selected stage names (run in pipeline order, in ONE launch: `gs_stages chain`),
`spec` the job (overrides applied), `locations` where inputs are and outputs go (`<root>/<stage>/<uuid>/`
and the media). It yields the stages' progress as `AssetObservation`s as it arrives (resources/progress_relay.py)
and each stage's `MaterializeResult`/`AssetCheckResult` as soon as that stage's output is complete in storage
and has replaced the previous one (while the later stages go on), and an `AssetObservation` for a stage
that reported but was not kept (resources/stage_outputs.py).
A failed stage raises `StageFailure` (a `dagster.Failure`) carrying the stage's own message, after the
results of the stages that did finish.

This module ships the local launcher (a subprocess, Dagster's `PipesSubprocessClient`); a SageMaker
launcher implements the same `launch` (one training job per launch, the container runs the same chain).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.pipes.context import PipesExecutionResult
from pydantic import Field, field_validator

from gs_stages.jobspec import JobSpec
from gs_stages.progress import DEFAULT_INTERVAL_S
from gs_stages.report import CHECKS_EXTRA, FAILED_EVENT
from gs_stages.stage import STAGE_ORDER, STAGES, StageError, check_settings
from resources.gpu_slots import GpuSlots, default_lock_dir, parse_devices
from resources.pipes_file_reader import TolerantFileMessageReader
from resources.progress_relay import ProgressRelay
from resources.stage_outputs import LaunchSettler, Settled, local_staging
from resources.storage import Store, open_store


@dataclass(frozen=True)
class StageLocations:
    """Where one job's data is: the storage root of the `<root>/<stage>/<uuid>/` layout and its media."""

    root: str  # local directory or s3://bucket/prefix
    media: str | None = None  # local path or s3:// URI of the uploaded media (needed by the frames stage)
    endpoint_url: str | None = None  # S3-compatible endpoint for both
    region: str | None = None

    def store(self) -> Store:
        return open_store(self.root, endpoint_url=self.endpoint_url, region=self.region)


class StageFailure(dg.Failure):
    """A stage failed; `stage` names it and the description is the stage's own message."""

    def __init__(self, stage: str, message: str, metadata: Mapping[str, Any] | None = None):
        self.stage = stage
        self.message = message
        super().__init__(description=f"stage {stage} failed: {message}", metadata={"stage": stage, **(metadata or {})})


def ordered_stages(stages: Sequence[str]) -> list[str]:
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages are {list(STAGE_ORDER)}")
    return sorted(dict.fromkeys(stages), key=STAGE_ORDER.index)


def external_inputs(stages: Sequence[str]) -> list[str]:
    """Stage outputs the selected stages read but do not produce themselves (read from storage)."""
    selected = set(stages)
    needed: list[str] = []
    for stage in ordered_stages(stages):
        definition = STAGES[stage]
        for name in definition.inputs + definition.optional_inputs:
            if name != "media" and name not in selected and name not in needed:
                needed.append(name)
    return needed


class StageLauncher(dg.ConfigurableResource):
    """Runs stages of one job in one launch. Subclasses: `LocalPipesLauncher` here; SageMaker later."""

    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Engine settings for every stage (gs_stages --setting), e.g. {'max_image_side': 800}",
    )

    progress_interval_s: float = Field(
        default=DEFAULT_INTERVAL_S,
        ge=0,
        description="seconds between two progress updates of a stage phase in the run's log (first and last always)",
    )

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """A mistyped name fails when the definitions load, not when the first job's stage starts."""
        try:
            check_settings(settings, where="engine setting of the launcher resource")
        except StageError as exc:
            raise ValueError(str(exc)) from None
        return settings

    def launch(
        self,
        context: dg.AssetExecutionContext,
        stages: Sequence[str],
        spec: JobSpec,
        locations: StageLocations,
        *,
        settings: Mapping[str, Any] | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
        raise NotImplementedError(f"{type(self).__name__} does not launch stages")

    def chain_command(
        self, python: str, spec_path: Path, root: Path, stages: Sequence[str], media: Path | None, settings: Mapping
    ) -> list[str]:
        """The stage CLI call every launcher runs, locally or in the container."""
        command = [python, "-m", "gs_stages", "chain", "--spec", str(spec_path), "--root", str(root)]
        command += ["--stages", ",".join(ordered_stages(stages))]
        if media is not None:
            command += ["--media", str(media)]
        for key, value in {**self.settings, **settings}.items():
            command += ["--setting", f"{key}={json.dumps(value)}"]
        return command


class StreamingPipesSubprocessClient(dg.PipesSubprocessClient):
    """`PipesSubprocessClient` that yields each result as the process reports it, and its progress as
    `AssetObservation`s (resources/progress_relay.py); reads messages with `TolerantFileMessageReader` (a
    torn or garbled line is skipped, not the end of reading); on failure raises with the message the stage
    reported (instead of only the exit code), after yielding the results of the stages that finished."""

    def stream(
        self,
        *,
        context: dg.AssetExecutionContext,
        command: Sequence[str],
        extras: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        poll_s: float = 0.5,
        stages: Sequence[str] = (),
    ) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
        """`stages`: what the process runs, in order; names the failed stage when the process dies
        without saying (a crash rather than a reported StageError)."""
        yielded = 0
        done: set[str] = set()
        relay = ProgressRelay(context)

        def fresh(session: Any) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
            nonlocal yielded
            yield from relay.fresh(session)
            reported = list(session.get_reported_results())
            new, yielded = reported[yielded:], len(reported)
            yield from new

        reader = TolerantFileMessageReader(warn=context.log.warning)
        with dg.open_pipes_session(
            context=context,
            context_injector=self.context_injector,
            message_reader=reader,
            extras=dict(extras or {}),
        ) as session:
            process = Popen(
                list(command),
                cwd=self.cwd,
                env={**os.environ, **self.env, **(env or {}), **session.get_bootstrap_env_vars()},
                stdout=None if self.forward_stdio else PIPE,
                stderr=None if self.forward_stdio else PIPE,
            )
            try:
                while process.poll() is None:
                    yield from fresh(session)
                    time.sleep(poll_s)
            except (DagsterExecutionInterruptedError, KeyboardInterrupt, GeneratorExit):
                if self.forward_termination and process.poll() is None:
                    context.log.info("[pipes] execution interrupted, sending SIGINT to the stage process")
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(timeout=self.termination_timeout_seconds)
                    except Exception:
                        process.kill()
                raise
        # The session is closed: every message the process wrote has been read.
        yield from fresh(session)
        done.update(r.asset_key.to_user_string() for r in session.get_reported_results() if r.asset_key)
        if process.returncode != 0:
            failures = [
                m for m in session.get_custom_messages() if isinstance(m, dict) and m.get("event") == FAILED_EVENT
            ]
            if failures:
                raise StageFailure(failures[-1].get("stage", "?"), failures[-1].get("message", ""))
            unfinished = [s for s in stages if s not in done]
            raise StageFailure(
                unfinished[0] if unfinished else "?",
                f"the stage process exited with code {process.returncode} (see the step's stdout/stderr)",
            )


class LocalPipesLauncher(StageLauncher):
    """Runs `python -m gs_stages chain` in a local subprocess under Dagster Pipes.

    The chain writes into a staging root: with a local storage root a hidden folder beside the outputs
    (stored inputs linked in), with an S3 root a temp folder (inputs downloaded). As soon as a stage's
    staged output is complete and its report has arrived, it replaces the stored one and Dagster is told
    while the later stages go on (`LaunchSettler`); once the process has ended, the stages not settled
    yet are judged from storage. An incomplete output is dropped and the last good output stays
    (resources/stage_outputs.py).
    """

    python: str = Field(default="", description="Python that has gs_stages[engine] (default: this one)")
    forward_stdio: bool = Field(default=True, description="stage stdout/stderr into the step's logs")
    poll_s: float = 0.5
    gpus: str = Field(
        default="",
        description="CUDA devices local runs share, one per launch, e.g. '0,1' (GS_LOCAL_GPUS); empty: no assignment",
    )
    gpu_lock_dir: str = Field(default="", description="where the GPU slot locks live (default: the temp dir)")

    def launch(
        self,
        context: dg.AssetExecutionContext,
        stages: Sequence[str],
        spec: JobSpec,
        locations: StageLocations,
        *,
        settings: Mapping[str, Any] | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> Iterator[PipesExecutionResult | dg.AssetObservation]:
        stages = ordered_stages(stages)
        store = locations.store()
        uuid = spec.uuid
        with tempfile.TemporaryDirectory(prefix=f"gs-{uuid[:24]}-") as tmp:
            tmp_path = Path(tmp)
            spec_path = tmp_path / f"{uuid}.json"
            spec_path.write_text(json.dumps(spec.to_json(), indent=2))
            # The chain writes into a staging root; a stored output is replaced only by a complete stage,
            # as soon as it has finished (resources/stage_outputs.py).
            if store.is_local:
                staging = _local_staging(store.local_path(""), uuid, stages)
            else:
                staging = tmp_path / "root"
                for name in external_inputs(stages):
                    count = store.download_dir(f"{name}/{uuid}", staging / name / uuid)
                    context.log.info(f"downloaded {count} file(s) of {name}/{uuid} from {store.uri}")
            checks = [c.get("stage") for c in (extras or {}).get(CHECKS_EXTRA) or []]
            settler = LaunchSettler(context, store, staging, stages, uuid, {s: checks.count(s) for s in stages})
            failure: Exception | None = None
            try:
                media = self._media(locations, tmp_path) if "frames" in stages else None
                command = self.chain_command(
                    self.python or sys.executable, spec_path, staging, stages, media, settings or {}
                )
                client = StreamingPipesSubprocessClient(forward_stdio=self.forward_stdio)
                with self._gpu(context) as env:
                    context.log.info("launching: " + " ".join(command))
                    for result in client.stream(
                        context=context, command=command, extras=extras, env=env, poll_s=self.poll_s, stages=stages
                    ):
                        if isinstance(result, dg.AssetObservation):  # progress: on to the event log now
                            yield result
                        else:
                            settler.add(result)
                        yield from settler.ready()
            except (DagsterExecutionInterruptedError, KeyboardInterrupt, GeneratorExit):
                # Canceled: nothing more of this launch is kept or recorded; stages already settled stay.
                if store.is_local:
                    shutil.rmtree(staging, ignore_errors=True)
                raise
            except Exception as exc:  # the stage failed, or the messages could not be read: storage decides
                failure = exc
            try:
                settled = yield from settler.finish()
            finally:
                if store.is_local:
                    shutil.rmtree(staging, ignore_errors=True)
        if failure is not None and all(s in settled.kept for s in stages):
            # Every stage finished and passed its checks (its marker is in storage): what went wrong
            # afterwards (a message that could not be read, the process's exit) does not undo that.
            context.log.warning(f"every stage of the launch finished and is kept, despite: {failure}")
            failure = None
        if failure is not None:
            failure = _named(failure, stages, settled)
            raise with_kept_note(failure, settled.kept_where) if isinstance(failure, StageFailure) else failure
        refused = [s for s in stages if s in settled.refused]
        if refused:  # a process that exits 0 with a refused stage: only a stage outside Pipes checks
            raise with_kept_note(StageFailure(refused[0], settled.refused[refused[0]]), settled.kept_where)

    @contextmanager
    def _gpu(self, context: dg.AssetExecutionContext) -> Iterator[dict[str, str]]:
        """The stage process's extra environment: one free GPU of `gpus` (resources/gpu_slots.py)."""
        devices = parse_devices(self.gpus)
        if not devices:
            yield {}
            return
        slots = GpuSlots(devices, Path(self.gpu_lock_dir) if self.gpu_lock_dir else default_lock_dir())

        def waiting(seconds: int) -> None:
            if seconds % 60 == 0:
                context.log.info(f"every GPU of {','.join(devices)} is busy; waiting ({seconds} s so far)")

        with slots.hold(on_wait=waiting) as device:
            context.log.info(f"stages run on GPU {device} (CUDA_VISIBLE_DEVICES={device})")
            yield {"CUDA_VISIBLE_DEVICES": device}

    @staticmethod
    def _media(locations: StageLocations, tmp: Path) -> Path:
        if not locations.media:
            raise StageFailure("frames", "the job has no media location")
        if locations.media.startswith("s3://"):
            parent, _, name = locations.media.rpartition("/")
            store = open_store(parent, endpoint_url=locations.endpoint_url, region=locations.region)
            if store.head(name) is None:
                raise StageFailure("frames", f"media not found: {locations.media}")
            path = tmp / "media" / name
            store.download_file(name, path)
            return path
        path = Path(locations.media)
        if not path.is_file():
            raise StageFailure("frames", f"media not found: {path}")
        return path


def _local_staging(root: Path, uuid: str, stages: Sequence[str]) -> Path:
    """The launch's staging root; a storage root that cannot hold it fails as the first stage would, naming
    that stage's output folder and what to do (a full disk, a folder the stages may not write)."""
    try:
        return local_staging(root, uuid, external_inputs(stages))
    except OSError as exc:
        from gs_stages.cli import STORAGE_ERRNOS, storage_error

        if exc.errno not in STORAGE_ERRNOS:
            raise
        output = root / stages[0] / uuid
        raise StageFailure(
            stages[0], str(storage_error(OSError(exc.errno, exc.strerror, str(output)), output))
        ) from exc


def _named(failure: Exception, stages: Sequence[str], settled: Settled) -> Exception:
    """The failure, naming the first stage that was not kept when the process could not say which."""
    if isinstance(failure, StageFailure) and failure.stage in settled.kept:
        unfinished = [s for s in stages if s not in settled.kept]
        metadata = {k: v for k, v in failure.metadata.items() if k != "stage"}
        return StageFailure(unfinished[0] if unfinished else failure.stage, failure.message, metadata)
    return failure


def with_kept_note(failure: StageFailure, kept_where: Mapping[str, str]) -> StageFailure:
    """The failure, saying that the failed stage's last good output is still there (the record's error)."""
    kept = kept_where.get(failure.stage)
    if not kept:
        return failure
    note = f"{failure.message}\nThe last good {failure.stage} output is kept: {kept}"
    named = StageFailure(failure.stage, note, {k: v for k, v in failure.metadata.items() if k != "stage"})
    named.__cause__ = failure.__cause__
    return named
