"""Engine settings of the sparse_model stage that are not part of the job JSON (`--setting NAME=VALUE`)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from gs_stages.errors import StageError, available_cores


@dataclass(frozen=True)
class SfmSettings:
    #: Threads for extraction, matching and mapping: every core this process may use.
    num_threads: int
    #: Longest image side SIFT sees; -1 keeps COLMAP's default (3200). The frames stage already downscales.
    max_image_size: int = -1
    max_num_features: int = 8192
    #: A COLMAP 4 (faiss) vocabulary tree, local path or s3:// URI; needed by vocab matching.
    vocab_tree_path: str | None = None
    #: Fewer registered images than this share of the input (or fewer than 3) fails the stage.
    min_registered_ratio: float = 0.5
    random_seed: int = 0
    #: The COLMAP camera model SfM estimates: "auto" (SIMPLE_RADIAL, or OPENCV_FISHEYE when the photos'
    #: EXIF names a fisheye lens or a 35 mm-equivalent focal length under 14 mm: `sfm/lens.py`) or a
    #: model name (OPENCV, OPENCV_FISHEYE, RADIAL, ...). `3dgut` trains through the lens it finds.
    camera_model: str = "auto"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SfmSettings:
        raw = {attribute: settings[name] for name, attribute in SETTING_FIELDS.items() if name in settings}
        defaults = {spec.name: spec.default for spec in fields(cls) if spec.default is not MISSING}

        def value(attribute: str) -> Any:
            return raw.get(attribute, defaults[attribute])

        try:
            return cls(
                num_threads=int(raw.get("num_threads") or available_cores()),
                max_image_size=int(value("max_image_size")),
                max_num_features=int(value("max_num_features")),
                vocab_tree_path=str(raw["vocab_tree_path"]) if raw.get("vocab_tree_path") else None,
                min_registered_ratio=float(value("min_registered_ratio")),
                random_seed=int(value("random_seed")),
                camera_model=_camera_model(str(value("camera_model"))),
            )
        except (TypeError, ValueError) as exc:
            raise StageError(
                f"an SfM engine setting is not a number: {exc}",
                hint="num_threads, sfm_max_image_size, sfm_max_num_features, sfm_random_seed are integers; "
                "sfm_min_registered_ratio is a number between 0 and 1",
            ) from None


#: `--setting` name -> SfmSettings field. COLMAP's knobs carry an `sfm_` prefix where another stage could
#: read the plain name differently (num_threads is shared with the masks stage on purpose).
SETTING_FIELDS: dict[str, str] = {
    "num_threads": "num_threads",
    "sfm_max_image_size": "max_image_size",
    "sfm_max_num_features": "max_num_features",
    "vocab_tree_path": "vocab_tree_path",
    "sfm_min_registered_ratio": "min_registered_ratio",
    "sfm_random_seed": "random_seed",
    "sfm_camera_model": "camera_model",
}
#: The `--setting` names this stage reads (gs_stages.stage.check_settings refuses names no stage reads).
SETTING_NAMES: tuple[str, ...] = tuple(SETTING_FIELDS)


def _camera_model(name: str) -> str:
    import pycolmap

    known = {m.name for m in pycolmap.CameraModelId.__members__.values()} - {"INVALID"}
    if name != "auto" and name not in known:
        raise StageError(
            f"sfm_camera_model {name!r} is not a COLMAP camera model",
            hint=f"use auto or one of {', '.join(sorted(known))}",
        )
    return name
