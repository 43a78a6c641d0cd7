"""Which camera model SfM estimates: the lens decision the job JSON has no field for.

Users expect a fisheye capture (an action camera, a phone's ultra-wide) to be handled as one without
saying so, and everything else to keep COLMAP's robust default. So, with the engine setting
`sfm_camera_model` at "auto":
* OPENCV_FISHEYE when the photos' EXIF says fisheye: a LensModel naming a fisheye, or a 35 mm-equivalent
  focal length under 14 mm (a diagonal field of view past about 115 degrees, where a radial polynomial
  on a pinhole stops describing the lens);
* SIMPLE_RADIAL otherwise (one focal length and one radial term, robust to estimate from a few photos).
Any COLMAP model name overrides this. The model found travels in the sparse model: `3dgut` trains
through it as is; the other training models undistort it (`splat/scene.py`).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

DEFAULT_MODEL = "SIMPLE_RADIAL"
FISHEYE_MODEL = "OPENCV_FISHEYE"
#: 35 mm-equivalent focal lengths under this are treated as fisheye lenses (diagonal FOV > ~115 degrees).
FISHEYE_FOCAL_35MM = 14.0
_EXIF_IFD, _FOCAL_35MM, _LENS_MODEL = 0x8769, 0xA405, 0xA434


def exif_lens(path: Path) -> tuple[str, float | None]:
    """(EXIF LensModel or "", 35 mm-equivalent focal length or None) of one photo."""
    try:
        with Image.open(path) as image:
            ifd = image.getexif().get_ifd(_EXIF_IFD)
    except (OSError, ValueError):
        return "", None
    focal = ifd.get(_FOCAL_35MM)
    return str(ifd.get(_LENS_MODEL) or ""), float(focal) if focal else None


def choose_camera_model(image_dir: Path, names: list[str], setting: str = "auto") -> tuple[str, str]:
    """(COLMAP model name, why) for the photos `names` under `image_dir`."""
    if setting != "auto":
        return setting, "engine setting sfm_camera_model"
    lenses = [exif_lens(image_dir / name) for name in names]
    if any("fisheye" in model.lower() for model, _ in lenses):
        return FISHEYE_MODEL, "EXIF LensModel names a fisheye lens"
    focals = sorted(f for _, f in lenses if f)
    if focals and focals[len(focals) // 2] < FISHEYE_FOCAL_35MM:
        return FISHEYE_MODEL, f"EXIF 35 mm-equivalent focal length {focals[len(focals) // 2]:g} mm"
    return DEFAULT_MODEL, "default"
