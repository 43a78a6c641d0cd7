"""The job JSON as one typed model, shared by the stage code and the Dagster code location.

The contract is docs/JOB_JSON.md: documents written for the AWS reference system must be
accepted unchanged, so values arrive loosely typed ("true", "300", "['down', 'up']"). Unknown keys
are refused, and every problem is reported at once with its JSON path, so a user fixes a job in
one round trip instead of one error per upload.

This module is the model; reading a document into it (every problem at once, the deployment's
context) is `gs_stages/job_parse.py`, whose `parse_job` and `load_job` are importable from here too.
The stages' option sections are `gs_stages/job_sections.py` (re-exported here). All of these import
only pydantic: the orchestrator loads them without torch or pycolmap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from gs_stages.job_guidance import guidance_path
from gs_stages.job_sections import (
    CUBE_FACES,
    TRAINING_MODELS,
    ImageProcessing,
    PosePriors,
    PostProcessing,
    Segmentation,
    Sfm,
    SphericalCamera,
    Training,
    TransformJsonPrior,
    VideoProcessing,
)
from gs_stages.job_text import JobSpecError
from gs_stages.job_values import LooseBool, Section
from gs_stages.s3_keys import (
    INPUT_PREFIX_MAX_BYTES,
    OUTPUT_PREFIX_MAX_BYTES,
    UUID_MAX_LENGTH,
    file_name_problem,
    prefix_problem,
)

DEFAULT_INSTANCE_TYPES: tuple[str, ...] = (
    "ml.g5.4xlarge",
    "ml.g5.8xlarge",
    "ml.g5.12xlarge",
    "ml.g6e.4xlarge",
    "ml.g6e.8xlarge",
)
VIDEO_EXTENSIONS = (".mp4", ".mov")
ARCHIVE_EXTENSIONS = (".zip",)
_UUID_RE = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")  # SageMaker's job-name pattern
#: UUID_MAX_LENGTH (gs_stages.s3_keys, 36): the uuid is part of every SageMaker training job name,
#: `<prefix>-<uuid>-<hash>-a<attempt>`, and SageMaker caps a name at 63 characters. With the longest prefix (10)
#: and attempt numbers up to 99999, 36 characters (a canonical UUID) is what still fits whole, so every job
#: name of a job shows its uuid uncut.

#: The sections live in job_sections.py; importable from here, as before.
__all__ = [
    "ARCHIVE_EXTENSIONS",
    "CUBE_FACES",
    "DEFAULT_INSTANCE_TYPES",
    "TRAINING_MODELS",
    "VIDEO_EXTENSIONS",
    "ImageProcessing",
    "JobSpec",
    "JobSpecError",
    "PosePriors",
    "PostProcessing",
    "S3Location",
    "Segmentation",
    "Sfm",
    "SphericalCamera",
    "Training",
    "TransformJsonPrior",
    "VideoProcessing",
    "uuid_problem",
]


def uuid_problem(uuid: str) -> str:
    """Why `uuid` cannot be a job's uuid, or "" (the job JSON's rule; `gs-dagster status` applies it too)."""
    if len(uuid) > UUID_MAX_LENGTH:
        return (
            f"uuid is at most {UUID_MAX_LENGTH} characters, got {len(uuid)}: it becomes part of the SageMaker "
            "training job name <prefix>-<uuid>-<hash>-a<attempt>, which SageMaker caps at 63 characters"
        )
    if not _UUID_RE.match(uuid):
        return (
            "uuid must be letters, digits and hyphens, starting and ending with a letter or digit "
            f"(it becomes part of a SageMaker training job name), got {uuid[:60]!r}"
        )
    return ""


class S3Location(Section):
    bucket_name: str = Field(alias="bucketName", min_length=3, max_length=63)
    input_prefix: str = Field("media-input", alias="inputPrefix")
    input_key: str = Field(alias="inputKey", min_length=1)
    output_prefix: str = Field("workflow-output", alias="outputPrefix")

    @field_validator("input_key")
    @classmethod
    def _media_extension(cls, key: str) -> str:
        if "/" in key or "\\" in key:
            raise ValueError(f"inputKey is a file name under inputPrefix, not a path: {key!r}")
        if problem := file_name_problem(key):
            raise ValueError(f"inputKey {problem}")
        if not key.lower().endswith(VIDEO_EXTENSIONS + ARCHIVE_EXTENSIONS):
            raise ValueError(f"media must be a video (.mp4, .mov) or a .zip of images, got {key!r}")
        return key

    @field_validator("input_prefix")
    @classmethod
    def _input_prefix(cls, prefix: str) -> str:
        if problem := prefix_problem(prefix.strip("/"), INPUT_PREFIX_MAX_BYTES, "<inputPrefix>/<inputKey>"):
            raise ValueError(f"the prefix {problem}")
        return prefix.strip("/")

    @field_validator("output_prefix")
    @classmethod
    def _output_prefix(cls, prefix: str) -> str:
        keys = "<outputPrefix>/<uuid>/<delivered file>"
        if problem := prefix_problem(prefix.strip("/"), OUTPUT_PREFIX_MAX_BYTES, keys):
            raise ValueError(f"the prefix {problem}")
        return prefix.strip("/")

    @property
    def media_key(self) -> str:
        return f"{self.input_prefix}/{self.input_key}" if self.input_prefix else self.input_key


class JobSpec(Section):
    """One reconstruction job. Field names are Python-style; aliases are the JSON keys."""

    uuid: str = Field(min_length=1)
    instance_type: str = Field("ml.g5.4xlarge", alias="instanceType")
    # AWS mode: SageMaker managed spot training for this job (checkpoints make it resumable).
    use_spot_instance: LooseBool = Field(False, alias="useSpotInstance")
    log_verbosity: Literal["debug", "info", "warning", "error"] = Field("info", alias="logVerbosity")
    s3: S3Location
    video_processing: VideoProcessing = Field(default_factory=VideoProcessing, alias="videoProcessing")
    image_processing: ImageProcessing = Field(default_factory=ImageProcessing, alias="imageProcessing")
    sfm: Sfm = Field(default_factory=Sfm)
    training: Training = Field(default_factory=Training)
    spherical_camera: SphericalCamera = Field(default_factory=SphericalCamera, alias="sphericalCamera")
    segmentation: Segmentation = Field(default_factory=Segmentation)
    post_processing: PostProcessing = Field(default_factory=PostProcessing, alias="postProcessing")

    #: Read from the newest AWS guidance's form (job_guidance): its problems are named with its paths.
    _guidance_form: bool = PrivateAttr(default=False)

    @field_validator("uuid")
    @classmethod
    def _job_name_safe(cls, uuid: str) -> str:
        if problem := uuid_problem(uuid):
            raise ValueError(problem)
        return uuid

    @field_validator("log_verbosity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    # -- derived facts the stages ask for -------------------------------------------------------
    @property
    def media_kind(self) -> Literal["video", "archive"]:
        return "video" if self.s3.input_key.lower().endswith(VIDEO_EXTENSIONS) else "archive"

    @property
    def uses_pose_priors(self) -> bool:
        priors = self.sfm.pose_priors
        return priors.use_colmap_model_files or priors.transform_json.enable

    def user_path(self, path: str) -> str:
        """One of our JSON paths as the job's own document writes it (the newer AWS form renames some)."""
        return guidance_path(path) if self._guidance_form else path

    def to_json(self) -> dict[str, Any]:
        """The canonical, JSON-typed document (booleans as booleans, numbers as numbers)."""
        return self.model_dump(mode="json", by_alias=True)

    def with_overrides(self, overrides: Mapping[str, Any]) -> JobSpec:
        """A copy with dotted-path options replaced, e.g. {"training.maxSteps": 500}; validated again."""
        document = self.to_json()
        for path, value in overrides.items():
            node = document
            *parents, leaf = path.split(".")
            for key in parents:
                if not isinstance(node.get(key), dict):
                    raise JobSpecError([(path, "no such option")])
                node = node[key]
            if leaf not in node:
                raise JobSpecError([(path, "no such option")])
            node[leaf] = value
        from gs_stages.job_parse import parse_job

        return parse_job(document)


def __getattr__(name: str) -> Any:
    """`parse_job`/`load_job` from here as before the split (lazily: job_parse imports this module)."""
    if name in ("parse_job", "load_job"):
        from gs_stages import job_parse

        return getattr(job_parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
