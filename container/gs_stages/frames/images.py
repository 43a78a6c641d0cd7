"""Decode one photo the way a viewer shows it: EXIF orientation applied, then downscaled.

Cameras store portrait photos as landscape pixels plus an orientation tag; SfM and training read
raw pixels, so the rotation has to be baked in here or half a phone capture ends up sideways.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gs_stages.frames.sharpness import ANALYSIS_SIDE, fit_size, laplacian_variance

#: Orientation values (EXIF tag 0x0112) that swap width and height.
_TRANSPOSING = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112

#: What Pillow raises on a damaged or hostile image file (a decompression bomb is over ~180 Mpixel).
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, upright, at most the requested long side
    source_width: int  # upright size before any downscaling
    source_height: int
    sharpness: float
    exif: bytes | None  # kept for SfM (focal length, GPS); orientation tag removed
    icc_profile: bytes | None


def decode_image(data: bytes, max_side: int) -> DecodedImage:
    """Decode, orient and downscale; raise one of DECODE_ERRORS on a file Pillow cannot read."""
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much faster for large photos.
    image.draft("RGB", fit_size(width, height, max(max_side, ANALYSIS_SIDE)))
    image = ImageOps.exif_transpose(image)
    if orientation in _TRANSPOSING:
        width, height = height, width
    icc_profile = image.info.get("icc_profile")
    exif = image.getexif()
    rgb = image.convert("RGB")
    sharpness = laplacian_variance(np.asarray(rgb.convert("L")))
    size = fit_size(rgb.width, rgb.height, max_side)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return DecodedImage(rgb, width, height, sharpness, exif.tobytes() if len(exif) else None, icc_profile)


def save_jpeg(decoded: DecodedImage, path: Path, quality: int) -> None:
    decoded.image.save(path, "JPEG", quality=quality, exif=decoded.exif or b"", icc_profile=decoded.icc_profile)
