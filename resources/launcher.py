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

This module holds that interface and what every launcher shares; resources/local_launcher.py runs the
chain in a local subprocess (resources/pipes_stream.py streams its Pipes messages), resources/sagemaker.py
in one SageMaker training job per launch (the container runs the same chain).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import PipesExecutionResult
from pydantic import Field, field_validator

from gs_dagster.resources.storage import Store, open_store
from gs_stages.jobspec import JobSpec
from gs_stages.progress import DEFAULT_INTERVAL_S
from gs_stages.stage import STAGE_ORDER, STAGES, StageError, check_settings


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
    """Runs stages of one job in one launch. Subclasses: `LocalPipesLauncher` (resources/local_launcher.py),
    `SageMakerLauncher` (resources/sagemaker.py)."""

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


def with_kept_note(failure: StageFailure, kept_where: Mapping[str, str]) -> StageFailure:
    """The failure, saying that the failed stage's last good output is still there (the record's error)."""
    kept = kept_where.get(failure.stage)
    if not kept:
        return failure
    note = f"{failure.message}\nThe last good {failure.stage} output is kept: {kept}"
    named = StageFailure(failure.stage, note, {k: v for k, v in failure.metadata.items() if k != "stage"})
    named.__cause__ = failure.__cause__
    return named
