"""What this build cannot do, known from the job JSON alone: checked at intake and before a chain starts.

The job JSON contract accepts options this build never runs (3DGUT/3DGRT, pose priors on 360°
input, ...). Each stage refuses its own case when it runs, through `refuse`, so a stage run by itself
still says why; `unsupported` collects every case of a whole job up front, so that a job that can never
finish fails in its first second with all its reasons, instead of after frames and SfM have spent
minutes (GPU minutes on SageMaker). One list of reasons serves both, so they cannot disagree.

Some models run in an environment of their own (3dgrt: NVIDIA 3DGRUT); whether the build has it depends
on where the stages run (`StageHost`): on this machine (the local launcher, the stage CLI) its Python
must exist here; in the SageMaker image, container/Dockerfile builds it, and the stage checks it there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gs_stages.grt import environment as grt_environment
from gs_stages.jobspec import CUBE_FACES, JobSpec
from gs_stages.stage import STAGE_ORDER, NotAvailableError, StageError

#: Models of `segmentation.backgroundRemovalModel` that this build refuses, and why (none since SAM 2 runs).
UNAVAILABLE_SEGMENTATION: dict[str, str] = {}
HUMAN_MODEL = "u2net-human"


@dataclass(frozen=True)
class Unsupported:
    stage: str  # the stage that would refuse it
    path: str  # the job JSON path to change
    message: str
    hint: str
    not_available: bool = False  # a feature missing from this build, not a contradiction in the job

    def error(self) -> StageError:
        kind = NotAvailableError if self.not_available else StageError
        return kind(self.message, hint=self.hint)


@dataclass(frozen=True)
class StageHost:
    """Where a job's stages will run, as far as their external environments go."""

    settings: Mapping[str, Any] = field(default_factory=dict)  # the engine settings the stages get
    in_image: bool = False  # SageMaker: the training image built by container/Dockerfile


THIS_MACHINE = StageHost()


def unsupported(
    spec: JobSpec, stages: Iterable[str] | None = None, host: StageHost = THIS_MACHINE
) -> list[Unsupported]:
    """Every option of `spec` this build cannot run, for the given stages (default: all of them)."""
    wanted = set(stages if stages is not None else STAGE_ORDER)
    found: list[Unsupported] = []
    if "frames" in wanted:
        found += _frames(spec)
    if "masks" in wanted:
        found += _masks(spec)
    if "splat" in wanted:
        found += _splat(spec, host)
    return [dataclasses.replace(p, path=spec.user_path(p.path)) for p in found]


def refuse(spec: JobSpec, stage: str) -> None:
    """Raise the first reason `stage` cannot run this job (called by the stage itself, before any work)."""
    problems = unsupported(spec, [stage])
    if problems:
        raise problems[0].error()


def check_supported(spec: JobSpec, stages: Iterable[str] | None = None, host: StageHost = THIS_MACHINE) -> None:
    """Raise one error that lists every reason the job cannot run (intake, chain start)."""
    problems = unsupported(spec, stages, host)
    if len(problems) == 1:
        raise problems[0].error()
    if problems:
        kind = NotAvailableError if all(p.not_available for p in problems) else StageError
        raise kind(describe(problems))


def describe(problems: list[Unsupported]) -> str:
    """Every reason, each with its JSON path and what to change (job records, notices, the submit CLI)."""
    lines = [f"  - {p.path}: {p.message} (what to try: {p.hint})" for p in problems]
    count = f"{len(problems)} reason{'s' * (len(problems) != 1)}"
    return f"this build cannot run the job ({count}):\n" + "\n".join(lines)


def _frames(spec: JobSpec) -> list[Unsupported]:
    spherical = spec.spherical_camera
    if not spherical.enable:
        return []
    found = []
    if spec.uses_pose_priors:
        found.append(
            Unsupported(
                "frames",
                "sphericalCamera.enable",
                "sphericalCamera.enable cannot be combined with pose priors: the priors describe the "
                "equirectangular frames, not the perspective views SfM reconstructs",
                "turn off sfm.posePriors (SfM then finds the poses), or sphericalCamera.enable",
            )
        )
    if set(CUBE_FACES) <= set(spherical.cube_faces_to_remove):
        found.append(
            Unsupported(
                "frames",
                "sphericalCamera.cubeFacesToRemove",
                "sphericalCamera.cubeFacesToRemove removes all six faces: nothing is left to reconstruct",
                "keep at least the side faces (front, right, back, left)",
            )
        )
    return found


def _masks(spec: JobSpec) -> list[Unsupported]:
    seg = spec.segmentation
    object_model = seg.background_removal_model if seg.remove_background else None
    found = []
    if object_model in UNAVAILABLE_SEGMENTATION:
        found.append(
            Unsupported(
                "masks",
                "segmentation.backgroundRemovalModel",
                f"background removal ({object_model}) is not available in this build: "
                f"{UNAVAILABLE_SEGMENTATION[object_model]}",
                "use segmentation.backgroundRemovalModel u2net (any object) or u2net-human (a person as the object)",
                not_available=True,
            )
        )
    if seg.remove_human_subject and object_model == HUMAN_MODEL:
        found.append(
            Unsupported(
                "masks",
                "segmentation.removeHumanSubject",
                "segmentation.removeHumanSubject with backgroundRemovalModel u2net-human would remove the object "
                "itself (u2net-human keeps the person as the object)",
                "use backgroundRemovalModel u2net with removeHumanSubject, or turn removeHumanSubject off",
            )
        )
    return found


def _splat(spec: JobSpec, host: StageHost) -> list[Unsupported]:
    if not spec.training.enable:
        return []
    if spec.training.model == "3dgrt" and not host.in_image:
        reason = grt_environment.missing(host.settings)
        if reason:
            message = f"training.model '3dgrt' is not available in this build: it {reason}"
            return [Unsupported("splat", "training.model", message, grt_environment.HINT, not_available=True)]
    return []
