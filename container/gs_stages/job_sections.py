"""The job JSON's option sections: what each stage is asked to do (frames, SfM, training, masks, delivery).

Why apart from `jobspec.py`: the job's identity and its media location (uuid, bucket keys, whose rules
come from SageMaker's and S3's limits) are one concern, the stages' options another; `JobSpec` composes
both and `jobspec.py` re-exports these names. Like it, this module imports only pydantic.
"""

from __future__ import annotations

import ast
import json
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from gs_stages.job_values import LooseBool, LooseFloat, LooseInt, Section, fraction

#: Each choice spelled once: the field's type, and the tuple the code and the capability checks iterate.
TrainingModel = Literal[
    "splatfacto",
    "splatfacto-big",
    "splatfacto-w-light",
    "splatfacto-mcmc",
    "nerfacto",
    "3dgut",
    "3dgrt",
]
TRAINING_MODELS: tuple[str, ...] = get_args(TrainingModel)
CubeFace = Literal["back", "down", "front", "left", "right", "up"]
CUBE_FACES: tuple[str, ...] = get_args(CubeFace)


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
    model: TrainingModel = "splatfacto"
    enable_multi_gpu: LooseBool = Field(False, alias="enableMultiGpu")
    rotate_splat: LooseBool = Field(True, alias="rotateSplat")
    # The Gaussian budget (gs_stages/splat/cleanup.py): the strategies' cap, and a prune by contribution otherwise.
    num_gaussians: LooseInt = Field(1_000_000, alias="numGaussians", ge=1000, le=20_000_000)


class SphericalCamera(Section):
    enable: LooseBool = False
    cube_faces_to_remove: Annotated[list[CubeFace], BeforeValidator(_face_list)] = Field(
        default_factory=list, alias="cubeFacesToRemove"
    )
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
