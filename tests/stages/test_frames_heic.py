"""iPhone photos (HEIC/HEIF) and AVIF in a photo zip: upright exactly once, EXIF kept for SfM, like a JPEG.

The HEIC files are made here with pillow-heif's encoder the way an iPhone lays them out: a grid of
tiles, a thumbnail, the rotation in the container (`irot`/`imir`) and the EXIF orientation tag both
saying how to turn the stored pixels. Nothing here registers the HEIF opener: importing the frames
image module has to do that, or every decode below fails.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
import pycolmap
import pytest
from PIL import Image

from gs_stages.frames.images import decode_image
from gs_stages.layout import FramesManifest
from tests.shared_data import DATA

from .jobs import make_spec, run_frames
from .test_frames_archive import EXIF_ORIENTATION, encode, write_zip

KERMIT = DATA / "kermit"
LUND = DATA / "lund" / "images"
RED = (255, 0, 0)
CAMERA_MAKE = 0x010F


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return exif


def heic(image: Image.Image, exif: Image.Exif) -> bytes:
    """An iPhone-like HEIC: 64-pixel tiles, a 64-pixel thumbnail, the EXIF orientation also as irot/imir."""
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90, exif=exif.tobytes(), tile_size=64, thumbnails=[64])
    return buffer.getvalue()


def avif(image: Image.Image, exif: Image.Exif) -> bytes:
    return encode(image, "AVIF", quality=90, exif=exif.tobytes())


def marked_photo() -> Image.Image:
    """Landscape pixels, blue with a red top-left corner: where the corner ends up shows the turn."""
    image = Image.new("RGB", (128, 64), (0, 0, 255))
    image.paste(RED, (0, 0, 24, 24))
    return image


def red_corners(image: Image.Image) -> list[str]:
    width, height = image.size
    corners = {"top left": (4, 4), "top right": (width - 5, 4), "bottom left": (4, height - 5)}
    corners["bottom right"] = (width - 5, height - 5)
    return [name for name, xy in corners.items() if image.getpixel(xy)[0] > 150 > image.getpixel(xy)[2]]


def exif_from(data: bytes | None) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data or b"")
    return exif


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_portrait_heic_is_turned_upright_once_not_twice() -> None:
    exif = orientation_exif(6)
    exif[CAMERA_MAKE] = "Apple"
    data = heic(marked_photo(), exif)
    # The turn is written twice, as an iPhone writes it: libheif applies the container's rotation by
    # itself (the file reads as portrait) and the EXIF inside still says 6. Obeying both turns it twice.
    stored = pillow_heif.open_heif(io.BytesIO(data))
    assert stored.size == (64, 128)
    assert exif_from(stored.info["exif"])[EXIF_ORIENTATION] == 6

    decoded = decode_image(data, max_side=1000)

    assert decoded.image.size == (64, 128) and (decoded.source_width, decoded.source_height) == (64, 128)
    assert red_corners(decoded.image) == ["top right"]  # 90° clockwise once; twice would be bottom right
    kept = exif_from(decoded.exif)
    assert kept[CAMERA_MAKE] == "Apple" and EXIF_ORIENTATION not in kept  # baked in: nothing turns it again


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_decodes_as_from_a_jpeg(orientation: int) -> None:
    exif = orientation_exif(orientation)
    reference = decode_image(encode(marked_photo(), "JPEG", exif=exif.tobytes()), max_side=1000)
    expected = (reference.image.size, red_corners(reference.image))
    assert len(expected[1]) == 1

    for data in (heic(marked_photo(), exif), avif(marked_photo(), exif)):
        decoded = decode_image(data, max_side=1000)
        assert (decoded.image.size, red_corners(decoded.image)) == expected
        assert (decoded.source_width, decoded.source_height) == (reference.source_width, reference.source_height)


def seen_by_colmap(path: Path) -> tuple[float | None, ...]:
    """Focal length (pixels) and GPS position as COLMAP's image reader takes them from the EXIF."""
    bitmap = pycolmap.Bitmap.read(path, as_rgb=True)
    assert bitmap is not None
    return bitmap.exif_focal_length(), bitmap.exif_latitude(), bitmap.exif_longitude(), bitmap.exif_altitude()


def test_gps_and_focal_length_of_a_heic_reach_sfm_like_a_jpeg(tmp_path: Path) -> None:
    # A real phone photo (an iPhone 4S, 35 mm-equivalent focal length, GPS), a quarter of its size.
    original = LUND / "01.jpg"
    with Image.open(original) as photo:
        exif = photo.getexif()
        small = photo.resize((256, 192))
    members = {"walk/01.heic": heic(small, exif), "walk/01.jpg": encode(small, "JPEG", exif=exif.tobytes())}
    media = write_zip(tmp_path / "walk.zip", members)
    spec = make_spec("walk.zip", **{"imageProcessing.filterBlurryImages": False})

    run_frames(spec, media, tmp_path / "out")

    frames = {f.source: tmp_path / "out/images" / f.name for f in FramesManifest.read(tmp_path / "out").frames}
    from_heic, from_jpeg = seen_by_colmap(frames["walk/01.heic"]), seen_by_colmap(frames["walk/01.jpg"])
    assert from_heic == from_jpeg
    focal, latitude, longitude, altitude = seen_by_colmap(original)
    assert from_heic == pytest.approx((focal / 4, latitude, longitude, altitude))
    assert latitude == pytest.approx(55.698167, abs=1e-6) and altitude == 37.0


def test_zip_of_iphone_photos_becomes_upright_frames(tmp_path: Path) -> None:
    # Eleven real photos stored sideways, as a phone held upright stores them (orientation 6), under the
    # extensions phones and cameras write, in any case.
    photos = sorted(KERMIT.glob("kermit*.jpg"))
    extensions = [".HEIC", ".heic", ".heif", ".HIF", ".avif"]
    members, upright = {}, []
    for number, path in enumerate(photos):
        with Image.open(path) as photo:
            stored = photo.convert("RGB").resize((320, 240))
        extension = extensions[number % len(extensions)]
        write = avif if extension == ".avif" else heic
        members[f"iphone/IMG_{number + 1:04d}{extension}"] = write(stored, orientation_exif(6))
        upright.append(stored.transpose(Image.Transpose.ROTATE_270))  # 90° clockwise, as orientation 6 says
    media = write_zip(tmp_path / "iphone.zip", members)

    metrics = run_frames(make_spec("iphone.zip"), media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert [f.source for f in manifest.frames] == list(members)
    assert manifest.dropped == [] and metrics["frame_count"] == 11
    assert {(f.width, f.height, f.source_width, f.source_height) for f in manifest.frames} == {(240, 320, 240, 320)}
    for record, expected in zip(manifest.frames, upright, strict=True):
        with Image.open(tmp_path / "out/images" / record.name) as frame:
            assert frame.format == "JPEG" and frame.size == (240, 320)
            pixels = frame.convert("RGB")
        assert mean_difference(pixels, expected) < 8, record.source
        assert mean_difference(pixels, expected.rotate(180)) > 25, record.source  # the check can tell


def test_damaged_heic_is_recorded_and_skipped(tmp_path: Path) -> None:
    whole = heic(marked_photo(), orientation_exif(1))
    members = {"a.heic": whole, "b.heic": whole[: len(whole) // 2], "c.heic": whole}
    media = write_zip(tmp_path / "some.zip", members)

    run_frames(make_spec("some.zip", **{"imageProcessing.filterBlurryImages": False}), media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert [f.source for f in manifest.frames] == ["a.heic", "c.heic"]
    assert [(d["source"], d["reason"]) for d in manifest.dropped] == [("b.heic", "unreadable")]
