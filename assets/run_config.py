"""The run config of a re-materialization: the common job options as typed fields with choices, so the
launchpad offers them with their defaults (no hand-written YAML), and the generic `overrides` dict for
every other option.

Every typed field defaults to "the job's value" (`JOB_VALUE` for a choice, None for a number), so an
empty run config runs the job as it was submitted. The choices come from the job model itself
(gs_stages/jobspec.py) and, for training.model, from the models this build trains (the others are
refused at intake), so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import dagster as dg
from pydantic import Field

from gs_stages.jobspec import Sfm
from gs_stages.splat.presets import PRESETS

#: The choice that keeps the job's own value.
JOB_VALUE = "job's value"


def _choices(*values: str) -> Any:
    """`Literal[JOB_VALUE, *values]`: Dagster shows a Literal as a drop-down of its values."""
    return Literal[(JOB_VALUE, *values)]  # type: ignore[valid-type]


TrainingModel = _choices(*PRESETS)
MatchingMethod = _choices(*get_args(Sfm.model_fields["matching_method"].annotation))
SfmSoftware = _choices(*get_args(Sfm.model_fields["software_name"].annotation))


class TrainingChanges(dg.Config):
    """training.* of the job for this run."""

    model: TrainingModel = Field(default=JOB_VALUE, description="training.model")
    max_steps: int | None = Field(default=None, ge=1, le=100_000, description="training.maxSteps (empty: the job's)")


class SfmChanges(dg.Config):
    """sfm.* of the job for this run."""

    matching_method: MatchingMethod = Field(default=JOB_VALUE, description="sfm.matchingMethod")
    software_name: SfmSoftware = Field(default=JOB_VALUE, description="sfm.softwareName (the mapper)")


#: Typed field -> the job JSON path it sets.
TYPED_PATHS: dict[tuple[str, str], str] = {
    ("training", "model"): "training.model",
    ("training", "max_steps"): "training.maxSteps",
    ("sfm", "matching_method"): "sfm.matchingMethod",
    ("sfm", "software_name"): "sfm.softwareName",
}


class StageRunConfig(dg.Config):
    """Per-run changes; the job's stored spec stays the default for every later run."""

    training: TrainingChanges = Field(default_factory=TrainingChanges, description="training options for this run")
    sfm: SfmChanges = Field(default_factory=SfmChanges, description="SfM options for this run")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other job option for this run, by JSON path: {'videoProcessing.maxNumImages': 150}",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Engine settings for this run (gs_stages --setting), e.g. {'max_image_side': 800}",
    )

    def job_overrides(self) -> dict[str, Any]:
        """The job options this run changes, by JSON path: the typed fields set, then `overrides`.

        A path set both ways to different values is refused (which one was meant cannot be guessed).
        """
        typed: dict[str, Any] = {}
        for (section, name), path in TYPED_PATHS.items():
            value = getattr(getattr(self, section), name)
            if value is not None and value != JOB_VALUE:
                typed[path] = value
        clashes = [p for p, v in typed.items() if p in self.overrides and self.overrides[p] != v]
        if clashes:
            raise dg.Failure(
                f"run config sets {', '.join(clashes)} twice with different values (a typed field and "
                "`overrides`): keep one"
            )
        return {**typed, **self.overrides}
