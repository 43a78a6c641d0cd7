"""The job JSON as one typed model, shared by the stage code and the Dagster code location.

The contract is docs/JOB_JSON.md: documents written for the AWS reference system must be
accepted unchanged, so values arrive loosely typed ("true", "300", "['down', 'up']"). Unknown keys
are refused, and every problem is reported at once with its JSON path, so a user fixes a job in
one round trip instead of one error per upload.

This module imports only pydantic: the orchestrator loads it without torch or pycolmap.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gs_stages.job_guidance import guidance_path, is_guidance_form, translate
from gs_stages.job_text import JobSpecError, alias_path, document_of, json_path, json_text, json_type
from gs_stages.job_values import LooseBool, LooseFloat, LooseInt, Section, fraction
from gs_stages.s3_keys import (
    INPUT_PREFIX_MAX_BYTES,
    OUTPUT_PREFIX_MAX_BYTES,
    UUID_MAX_LENGTH,
    PrefixGrants,
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
    # The Gaussian budget (gs_stages/splat/cleanup.py): MCMC's cap, and a prune by importance otherwise.
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

    # Off unless asked: on kermit each cost over 0.1 dB of held-out PSNR (docs/BENCHMARKS.md, "Floater cleanup").
    crop_output_bounds: LooseBool = Field(False, alias="cropOutputBounds")
    crop_mode: Literal["environment", "rigid_object"] = Field("environment", alias="cropMode")
    clean_splat: LooseBool = Field(False, alias="cleanSplat")
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
        return parse_job(document)


def _section_at(keys: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model at a path of JSON keys, or None where the path leaves the model."""
    section: type[BaseModel] = JobSpec
    for key in keys:
        field = next((f for name, f in section.model_fields.items() if (f.alias or name) == key), None)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        section = field.annotation
    return section


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """Name the key; where it is a field's Python name ("max_steps"), name the JSON key to write instead."""
    key = loc[-1]
    section = _section_at(loc[:-1])
    field = section.model_fields.get(str(key)) if section is not None else None
    if field is not None and field.alias:
        return f"unknown key {key!r}: the JSON key is {field.alias!r}"
    return f"unknown key {key!r} (check its spelling against docs/JOB_JSON.md)"


def _context_problems(
    data: Mapping[str, Any],
    *,
    file_name: str | None,
    deployment_bucket: str | None,
    instance_types: Iterable[str],
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    uuid = data.get("uuid")
    if file_name is not None and isinstance(uuid, str):
        stem = Path(file_name).name
        stem = stem[: -len(".json")] if stem.lower().endswith(".json") else stem
        if stem != uuid:
            hidden = " (a name starting with '.' is hidden and never a uuid: rename the file <uuid>.json)"
            problems.append(
                ("uuid", f"must equal the file's base name {stem!r}, got {uuid!r}{hidden * stem.startswith('.')}")
            )
    allowed = tuple(instance_types)
    instance = data.get("instanceType", "ml.g5.4xlarge")
    if isinstance(instance, str) and instance not in allowed:
        problems.append(("instanceType", f"{instance!r} is not allowed; choose one of {', '.join(allowed)}"))
    # Not a string at all: the model reports it, once.
    s3 = data.get("s3")
    bucket = s3.get("bucketName") if isinstance(s3, Mapping) else None
    if deployment_bucket is not None and isinstance(bucket, str) and bucket != deployment_bucket:
        problems.append(("s3.bucketName", f"{bucket!r} is not this deployment's bucket ({deployment_bucket!r})"))
    return problems


def _grant_problems(data: Mapping[str, Any], prefixes: PrefixGrants) -> list[tuple[str, str]]:
    """Prefixes outside the deployment's grants, read from the document as written (so they are named
    together with every other problem)."""
    s3 = data.get("s3")
    if not isinstance(s3, Mapping):
        return []
    fields = S3Location.model_fields
    media = s3.get("inputPrefix", fields["input_prefix"].default)
    output = s3.get("outputPrefix", fields["output_prefix"].default)
    if not (isinstance(media, str) and isinstance(output, str)):
        return []  # the model names a prefix that is not a string
    return prefixes.problems(media.strip("/"), output.strip("/"))


def _cross_field_problems(spec: JobSpec) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    priors = spec.sfm.pose_priors
    if priors.use_colmap_model_files and priors.transform_json.enable:
        problems.append(
            (
                "sfm.posePriors",
                "usePosePriorColmapModelFiles and usePosePriorTransformJson.enable exclude each other; pick one",
            )
        )
    if spec.uses_pose_priors and spec.media_kind != "archive":
        problems.append(("s3.inputKey", "pose priors come in a .zip (transforms.json or sparse/ with images/)"))
    if not spec.sfm.enable and not spec.uses_pose_priors:
        problems.append(
            (
                "sfm.enable",
                "false needs pose priors (usePosePriorTransformJson or usePosePriorColmapModelFiles): "
                "without SfM there are no camera poses",
            )
        )
    return problems


def parse_job(
    data: Mapping[str, Any] | str | bytes,
    *,
    file_name: str | None = None,
    deployment_bucket: str | None = None,
    instance_types: Iterable[str] = DEFAULT_INSTANCE_TYPES,
    prefixes: PrefixGrants | None = None,
) -> JobSpec:
    """Validate a job document and return the model, or raise JobSpecError listing every problem.

    `file_name` (the object's key or path) checks that uuid matches it; `deployment_bucket` refuses
    other buckets; `instance_types` is the operator's allow-list; `prefixes` the key prefixes the
    deployment's roles may use.
    """
    try:
        return _parse(data, file_name, deployment_bucket, tuple(instance_types), prefixes or PrefixGrants())
    except RecursionError:  # JSON nested thousands deep: json and pydantic recurse per level
        raise JobSpecError([("$", "nested too deeply to read; a job JSON is a few levels of objects")]) from None


def _parse(
    data: Mapping[str, Any] | str | bytes,
    file_name: str | None,
    deployment_bucket: str | None,
    instance_types: tuple[str, ...],
    prefixes: PrefixGrants,
) -> JobSpec:
    if isinstance(data, str | bytes):
        data = document_of(data)
    if not isinstance(data, Mapping):
        raise JobSpecError([("$", f"a job is a JSON object, got {json_type(data)}")])
    guidance = is_guidance_form(data)
    problems: list[tuple[str, str]] = []
    if guidance:  # the newest AWS guidance's form: read as ours, its refused keys named as written
        translation = translate(data)
        data, problems = translation.document, translation.problems
    ours = _context_problems(
        data, file_name=file_name, deployment_bucket=deployment_bucket, instance_types=instance_types
    )
    spec: JobSpec | None = None
    try:
        spec = JobSpec.model_validate(dict(data))
    except ValidationError as exc:
        ours.extend(_model_problems(exc))
    ours.extend(_grant_problems(data, prefixes))
    if spec is not None:
        ours.extend(_cross_field_problems(spec))
    problems.extend((guidance_path(path), message) if guidance else (path, message) for path, message in ours)
    if problems:
        raise JobSpecError(problems)
    assert spec is not None
    spec._guidance_form = guidance
    return spec


def _model_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        loc = alias_path(tuple(error["loc"]))
        # A Literal mismatch lists each allowed value; tagged unions add the tag to loc.
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(loc)
        elif error["type"] == "missing":
            message = "required"
        elif error["type"] == "string_type":
            message = f"expected a string, got {json_text(error['input'])}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append((json_path(loc), message))
    return problems


def load_job(path: str | Path, **kwargs: Any) -> JobSpec:
    """Read and validate a job file; its name is checked against the uuid."""
    path = Path(path)
    return parse_job(path.read_bytes(), file_name=path.name, **kwargs)
