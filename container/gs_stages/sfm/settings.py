"""Engine settings of the sparse_model stage that are not part of the job JSON (`--setting NAME=VALUE`),
typed and bounded in one pydantic model (`gs_stages.settings_model`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, field_validator

from gs_stages.errors import available_cores
from gs_stages.settings_model import PositiveWhole, StageSettings, Whole, refused


class SfmSettings(StageSettings):
    """COLMAP's knobs carry an `sfm_` prefix (their setting name, the field's alias) where another stage
    could read the plain name differently; num_threads is shared with the masks stage on purpose."""

    #: Threads for extraction, matching and mapping; 0 (the default): every core this process may use.
    num_threads: Annotated[Whole, Field(ge=0, validate_default=True)] = 0
    #: Longest image side SIFT sees; -1 keeps COLMAP's default (3200). The frames stage already downscales.
    max_image_size: Annotated[Whole, Field(ge=-1, alias="sfm_max_image_size")] = -1
    max_num_features: Annotated[PositiveWhole, Field(alias="sfm_max_num_features")] = 8192
    #: A COLMAP 4 (faiss) vocabulary tree, local path or s3:// URI; needed by vocab matching.
    vocab_tree_path: str | None = None
    random_seed: Annotated[Whole, Field(alias="sfm_random_seed")] = 0
    #: The COLMAP camera model SfM estimates: "auto" (SIMPLE_RADIAL, or OPENCV_FISHEYE when the photos'
    #: EXIF names a fisheye lens or a 35 mm-equivalent focal length under 14 mm: `sfm/lens.py`) or a
    #: model name (OPENCV, OPENCV_FISHEYE, RADIAL, ...). `3dgut` trains through the lens it finds.
    camera_model: Annotated[str, Field(alias="sfm_camera_model")] = "auto"

    @field_validator("num_threads")
    @classmethod
    def _every_core(cls, value: int) -> int:
        return value or available_cores()

    @field_validator("vocab_tree_path", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None

    @field_validator("camera_model")
    @classmethod
    def _colmap_model(cls, name: str) -> str:
        """Checked against pycolmap's models where pycolmap is (the stage); the Dagster side has no COLMAP."""
        known = colmap_camera_models()
        if name != "auto" and known and name not in known:
            raise refused("is not a COLMAP camera model", f"use auto or one of {', '.join(sorted(known))}")
        return name

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SfmSettings:
        """The stage's settings from the chain's settings dict (`from_mapping`)."""
        return cls.from_mapping(settings)


def colmap_camera_models() -> set[str]:
    """COLMAP's camera model names, or an empty set where pycolmap is not installed."""
    try:
        import pycolmap
    except ImportError:
        return set()
    return {m.name for m in pycolmap.CameraModelId.__members__.values()} - {"INVALID"}


#: `--setting` name -> SfmSettings field.
SETTING_FIELDS: dict[str, str] = {field.alias or name: name for name, field in SfmSettings.model_fields.items()}
#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = SfmSettings.setting_names()
