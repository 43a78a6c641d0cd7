"""The lens SfM estimates (sfm/lens.py): EXIF says fisheye -> OPENCV_FISHEYE, else SIMPLE_RADIAL; the
engine setting sfm_camera_model overrides, and a name COLMAP does not know is refused with the list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gs_stages.sfm.features import CameraSetup
from gs_stages.sfm.settings import SfmSettings
from gs_stages.stage import StageError


def _photos(folder: Path, lens_model: str | None = None, focal_35mm: int | None = None, count: int = 3) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        exif = Image.Exif()
        ifd = exif.get_ifd(0x8769)
        if lens_model:
            ifd[0xA434] = lens_model
        if focal_35mm:
            ifd[0xA405] = focal_35mm
        name = f"{i:03d}.jpg"
        Image.fromarray(np.full((24, 32, 3), 90 + i, np.uint8)).save(folder / name, exif=exif)
        names.append(name)
    return names


@pytest.mark.parametrize(
    ("lens_model", "focal", "expected"),
    [
        ("GoPro HERO fisheye", None, "OPENCV_FISHEYE"),
        (None, 13, "OPENCV_FISHEYE"),  # a phone's ultra-wide
        ("iPhone back camera 4.2mm f/1.6", 26, "SIMPLE_RADIAL"),
        (None, None, "SIMPLE_RADIAL"),
    ],
)
def test_auto_picks_the_fisheye_model_from_exif(
    tmp_path: Path, lens_model: str | None, focal: int | None, expected: str
):
    names = _photos(tmp_path, lens_model, focal)
    assert CameraSetup.for_frames(tmp_path, names, "photos").model == expected


def test_the_engine_setting_overrides_and_unknown_models_are_refused(tmp_path: Path) -> None:
    names = _photos(tmp_path, "fisheye")
    settings = SfmSettings.from_settings({"sfm_camera_model": "OPENCV"})
    assert CameraSetup.for_frames(tmp_path, names, "photos", settings.camera_model).model == "OPENCV"
    with pytest.raises(StageError, match="'GOPRO' is not a COLMAP camera model") as refused:
        SfmSettings.from_settings({"sfm_camera_model": "GOPRO"})
    assert "OPENCV_FISHEYE" in str(refused.value.hint)
