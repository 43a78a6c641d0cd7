"""The job JSON as one typed model, shared by the stage code and the Dagster code location.

The contract is docs/JOB_JSON.md: documents written for the AWS reference system must be
accepted unchanged, so values arrive loosely typed ("true", "300", "['down', 'up']"). Unknown keys
are refused, and every problem is reported at once with its JSON path, so a user fixes a job in
one round trip instead of one error per upload.

This module is the model; reading a document into it (every problem at once, the deployment's
context) is `gs_stages/job_parse.py`, whose `parse_job` and `load_job` are importable from here too.
Both import only pydantic: the orchestrator loads them without torch or pycolmap.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from gs_stages.job_guidance import guidance_path
from gs_stages.job_text import JobSpecError
from gs_stages.job_values import LooseBool, LooseFloat, LooseInt, Section, fraction
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
TRAINING_MODELS: tuple[str, ...] = (
    "splatfacto",
    "splatfacto-big",
    "splatfacto-w-light",
    "splatfacto-mcmc",
    "nerfacto",
    "3dgut",
    "3dgrt",
)
VIDEO_EXTENSIONS = (".mp4", ".mov")
ARCHIVE_EXTENSIONS = (".zip",)
CUBE_FACES = ("back", "down", "front", "left", "right", "up")
_UUID_RE = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")  # SageMaker's job-name pattern
#: UUID_MAX_LENGTH (gs_stages.s3_keys, 36): the uuid is part of every SageMaker training job name,
#: `<prefix>-<uuid>-<hash>-a<attempt>`, and SageMaker caps a name at 63 characters. With the longest prefix (10)
#: and attempt numbers up to 99999, 36 characters (a canonical UUID) is what still fits whole, so every job
#: name of a job shows its uuid uncut.


def _face_list(value: Any) -> Any:
    """A list of cube faces, or a string holding a Python/JSON list literal ("['down', 'up']")."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ValueError(f"expected a list of cube faces such as \"['down', 'up']\", got {text!r}") from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ValueError(f"expected a list of cube faces, got {value!r}")
    # The reference UI writes "['']" for "none": an empty name means no face.
    return [v.strip().lower() if isinstance(v, str) else v for v in value if v != ""]


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


class VideoProcessing(Section):
    max_num_images: LooseInt = Field(300, alias="maxNumImages", ge=1, le=2000)
    # Seconds into the video; null (the AWS guidance's default) or no key: to the end.
    video_start_time: LooseFloat = Field(0.0, alias="videoStartTime", ge=0.0, le=86400.0)
    video_stop_time: LooseFloat | None = Field(None, alias="videoStopTime", gt=0.0, le=86400.0)

    @model_validator(mode="after")
    def _window(self) -> VideoProcessing:
        if self.video_stop_time is not None and self.video_stop_time <= self.video_start_time:
            raise ValueError(
                f"videoStopTime ({self.video_stop_time:g} s) must be after videoStartTime ({self.video_start_time:g} s)"
            )
        return self


class ImageProcessing(Section):
    filter_blurry_images: LooseBool = Field(True, alias="filterBlurryImages")


class TransformJsonPrior(Section):
    enable: LooseBool = False
    source_coordinate_name: Literal["arkit", "arcore", "opengl", "opencv", "ros"] = Field(
        "arkit", alias="sourceCoordinateName"
    )
    pose_is_world_to_cam: LooseBool = Field(True, alias="poseIsWorldToCam")

    @field_validator("source_coordinate_name", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class PosePriors(Section):
    use_colmap_model_files: LooseBool = Field(False, alias="usePosePriorColmapModelFiles")
    transform_json: TransformJsonPrior = Field(default_factory=TransformJsonPrior, alias="usePosePriorTransformJson")


class Sfm(Section):
    enable: LooseBool = True
    software_name: Literal["colmap", "glomap"] = Field("glomap", alias="softwareName")
    enhanced_features: LooseBool = Field(False, alias="enableEnhancedFeatureExtraction")
    matching_method: Literal["sequential", "spatial", "vocab", "exhaustive"] = Field(
        "sequential", alias="matchingMethod"
    )
    pose_priors: PosePriors = Field(default_factory=PosePriors, alias="posePriors")


class Training(Section):
    enable: LooseBool = True
    max_steps: LooseInt = Field(15000, alias="maxSteps", ge=1, le=100000)
    model: Literal[
        "splatfacto",
        "splatfacto-big",
        "splatfacto-w-light",
        "splatfacto-mcmc",
        "nerfacto",
        "3dgut",
        "3dgrt",
    ] = "splatfacto"
    enable_multi_gpu: LooseBool = Field(False, alias="enableMultiGpu")
    rotate_splat: LooseBool = Field(True, alias="rotateSplat")
    # The Gaussian budget (gs_stages/splat/cleanup.py): the strategies' cap, and a prune by contribution otherwise.
    num_gaussians: LooseInt = Field(1_000_000, alias="numGaussians", ge=1000, le=20_000_000)


class SphericalCamera(Section):
    enable: LooseBool = False
    cube_faces_to_remove: Annotated[
        list[Literal["back", "down", "front", "left", "right", "up"]], BeforeValidator(_face_list)
    ] = Field(default_factory=list, alias="cubeFacesToRemove")
    optimize_sequential_frame_order: LooseBool = Field(True, alias="optimizeSequentialFrameOrder")


class Segmentation(Section):
    remove_background: LooseBool = Field(False, alias="removeBackground")
    background_removal_model: Literal["u2net", "u2net-human", "sam2"] = Field("u2net", alias="backgroundRemovalModel")
    mask_threshold: Annotated[LooseFloat, AfterValidator(fraction)] = Field(0.6, alias="maskThreshold")
    remove_human_subject: LooseBool = Field(False, alias="removeHumanSubject")

    @field_validator("background_removal_model", mode="before")
    @classmethod
    def _spelling(cls, value: Any) -> Any:
        # The reference accepts both spellings; normalise so code compares one string.
        return "u2net-human" if value == "u2net_human" else value


class PostProcessing(Section):
    """What is removed from the trained splat before delivery (gs_stages/splat/cleanup.py says how), and which
    of the optional exports the spz stage writes (export/media_outputs.py, export/stage.py): the newer AWS
    guidance's keys, so one document means the same in either form."""

    # On unless the job says false: on fox and kermit neither cost measurable held-out PSNR (at most 0.002 dB)
    # once the crop kept what any capture camera draws (docs/BENCHMARKS.md, "Crop from every capture camera").
    crop_output_bounds: LooseBool = Field(True, alias="cropOutputBounds")
    crop_mode: Literal["environment", "rigid_object"] = Field("environment", alias="cropMode")
    clean_splat: LooseBool = Field(True, alias="cleanSplat")
    enable_video_export: LooseBool = Field(True, alias="enableVideoExport")
    enable_sog: LooseBool = Field(True, alias="enableSog")


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
