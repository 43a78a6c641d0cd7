"""The local launcher: `python -m gs_stages chain` in a subprocess under Dagster Pipes, each stage promoted
and materialized as soon as it finishes (resources/stage_outputs.py)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterExecutionInterruptedError, PipesExecutionResult
from pydantic import Field

from gs_dagster.resources.gpu_slots import GpuSlots, default_lock_dir, parse_devices
from gs_dagster.resources.launcher import (
    StageFailure,
    StageLauncher,
    StageLocations,
    external_inputs,
    ordered_stages,
    with_kept_note,
)
from gs_dagster.resources.pipes_stream import StreamingPipesSubprocessClient
from gs_dagster.resources.stage_outputs import LaunchSettler, Settled, local_staging
from gs_dagster.resources.storage import open_store
from gs_stages.jobspec import JobSpec
from gs_stages.report import CHECKS_EXTRA


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
