"""Decode one photo the way a viewer shows it: EXIF orientation applied, then downscaled.

Cameras store portrait photos as landscape pixels plus an orientation tag; SfM and training read
raw pixels, so the rotation has to be baked in here or half a phone capture ends up sideways.
JPEG, PNG, HEIC/HEIF (iPhones' default, through pillow-heif) and AVIF (Pillow's own) are read.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from gs_stages.frames.sharpness import ANALYSIS_SIDE, fit_size, laplacian_variance

#: Orientation values (EXIF tag 0x0112) that swap width and height.
_TRANSPOSING = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112

#: What Pillow raises on a damaged or hostile image file (a decompression bomb is over ~180 Mpixel).
#: pillow-heif reports damaged HEIC data as ValueError, EOFError or SyntaxError. Its RuntimeError (no
#: memory, a decoder plugin that fails to load) is the machine's problem, not the photo's: not caught.
DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


def register_heif() -> None:
    """Let Pillow open HEIC/HEIF photos, the format iPhones save by default.

    libheif applies the container's rotation and mirroring (`irot`/`imir`) while decoding, and
    pillow-heif then sets the EXIF orientation tag to 1, so `decode_image` turns such a photo upright
    exactly once. That is the HEIF rule: the container's transforms count, readers ignore the EXIF tag.
    Depth maps and auxiliary images (portrait mode, HDR gain maps) are never used, so not even listed.
    """
    pillow_heif.register_heif_opener(depth_images=False, aux_images=False)


# Once, at import: this module is where uploaded photos are opened (later stages read its JPEGs).
register_heif()


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
    # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much faster for large photos. HEIF decodes an
    # embedded thumbnail instead when one is at least this large (phones' thumbnails are smaller).
    image.draft("RGB", fit_size(width, height, max(max_side, ANALYSIS_SIDE)))
    image = ImageOps.exif_transpose(image)
    if orientation in _TRANSPOSING:
        width, height = height, width
    icc_profile = image.info.get("icc_profile")
    exif = image.getexif()
    # The pixels are upright now; HEIF still carries the tag (pillow-heif resets it to 1): drop it too.
    exif.pop(_ORIENTATION_TAG, None)
    rgb = image.convert("RGB")
    sharpness = laplacian_variance(np.asarray(rgb.convert("L")))
    size = fit_size(rgb.width, rgb.height, max_side)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return DecodedImage(rgb, width, height, sharpness, exif.tobytes() if len(exif) else None, icc_profile)


def save_jpeg(decoded: DecodedImage, path: Path, quality: int) -> None:
    decoded.image.save(path, "JPEG", quality=quality, exif=decoded.exif or b"", icc_profile=decoded.icc_profile)
