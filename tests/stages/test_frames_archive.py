"""The frames stage on a zip of photos: order, orientation, size, blur filter and pose priors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from gs_stages.layout import FramesManifest
from gs_stages.stage import StageError
from tests.shared_data import DATA

from .jobs import make_spec, run_frames

FOX = DATA / "fox"
STATUE = DATA / "statue_of_liberty_colmap"
KERMIT = DATA / "kermit"
EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def pan_sequence(count: int, blurred: dict[int, float]) -> list[bytes]:
    """JPEGs of a camera pan over a random texture; `blurred` maps frame index to Gaussian sigma."""
    rng = np.random.default_rng(3)
    texture = cv2.resize(rng.integers(0, 256, (60, 120), dtype=np.uint8), (480, 240), interpolation=cv2.INTER_NEAREST)
    frames = []
    for i in range(count):
        frame = texture[:, i * 16 : i * 16 + 240]
        if i in blurred:
            frame = cv2.GaussianBlur(frame, (0, 0), blurred[i])
        frames.append(encode(Image.fromarray(frame), "JPEG", quality=95))
    return frames


def test_mixed_case_nested_images_are_oriented_downscaled_and_numbered(tmp_path: Path) -> None:
    # Stored 400x200 with the left half red; orientation 6 shows it rotated: 200x400, red on top.
    sideways = Image.new("RGB", (400, 200), "blue")
    sideways.paste((255, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    media = write_zip(
        tmp_path / "photos.zip",
        {
            "set/B/img10.JPG": encode(Image.new("RGB", (640, 480), "green"), "JPEG"),
            "set/B/img2.jpeg": encode(sideways, "JPEG", exif=exif.tobytes(), quality=95),
            "set/a/IMG1.Png": encode(Image.new("RGBA", (100, 80), (9, 9, 9, 128)), "PNG"),
            "__MACOSX/set/B/._img2.jpeg": b"\x00\x05\x16\x07 resource fork",
            "set/._img3.jpg": b"AppleDouble",
            "set/notes.txt": b"not an image",
        },
    )
    spec = make_spec("photos.zip", **{"imageProcessing.filterBlurryImages": False})

    metrics = run_frames(spec, media, tmp_path / "out", max_image_side=300)

    manifest = FramesManifest.read(tmp_path / "out")
    assert manifest.media_kind == "archive" and manifest.media_name == "photos.zip"
    assert [(f.name, f.source) for f in manifest.frames] == [
        ("000000.jpg", "set/a/IMG1.Png"),
        ("000001.jpg", "set/B/img2.jpeg"),
        ("000002.jpg", "set/B/img10.JPG"),
    ]
    sizes = [(f.width, f.height, f.source_width, f.source_height) for f in manifest.frames]
    assert sizes == [(100, 80, 100, 80), (150, 300, 200, 400), (300, 225, 640, 480)]
    assert sorted(p.name for p in (tmp_path / "out/images").iterdir()) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    upright = Image.open(tmp_path / "out/images/000001.jpg")
    assert upright.size == (150, 300)
    assert upright.getexif().get(EXIF_ORIENTATION) is None  # baked in, so no viewer rotates it twice
    top, bottom = upright.getpixel((75, 20)), upright.getpixel((75, 280))
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue
    assert manifest.priors is None and manifest.dropped == []
    assert metrics["frame_count"] == 3 and metrics["dropped_count"] == 0 and metrics["priors_found"] == "none"
    assert not (tmp_path / "out/priors").exists()


def test_blur_filter_drops_blurry_frames_but_never_two_in_a_row(tmp_path: Path) -> None:
    # Frame 3 is blurred; 6 and 7 are both blurred: only the blurrier (6) may go, or a gap would open.
    frames = pan_sequence(11, {3: 3.0, 6: 3.0, 7: 2.0})
    media = write_zip(tmp_path / "pan.zip", {f"pan/{i + 1}.jpg": data for i, data in enumerate(frames)})

    metrics = run_frames(make_spec("pan.zip"), media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert [d["source"] for d in manifest.dropped] == ["pan/4.jpg", "pan/7.jpg"]
    assert all(d["reason"] == "blurry" and d["sharpness"] < 0.2 * d["local_median"] for d in manifest.dropped)
    kept = [f.source for f in manifest.frames]
    assert kept == [f"pan/{i}.jpg" for i in (1, 2, 3, 5, 6, 8, 9, 10, 11)]
    assert "pan/8.jpg" in kept  # the blurred neighbour of a dropped frame stays
    assert [f.name for f in manifest.frames] == [f"{i:06d}.jpg" for i in range(9)]
    assert len(list((tmp_path / "out/images").iterdir())) == 9
    assert metrics["dropped_count"] == 2 and metrics["blur_filter"] is True


def test_blur_filter_keeps_every_photo_of_a_sharp_real_sequence(tmp_path: Path) -> None:
    # kermit010 is darker and a different view (36% of its neighbours' sharpness) but not blurred.
    photos = sorted(KERMIT.glob("kermit*.jpg"))
    media = write_zip(tmp_path / "kermit.zip", {f"kermit/{p.name}": p.read_bytes() for p in photos})

    metrics = run_frames(make_spec("kermit.zip"), media, tmp_path / "out")

    assert metrics["blur_filter"] is True and metrics["dropped_count"] == 0
    assert [f.source for f in FramesManifest.read(tmp_path / "out").frames] == [f"kermit/{p.name}" for p in photos]


def test_blur_filter_off_keeps_every_frame(tmp_path: Path) -> None:
    frames = pan_sequence(5, {2: 3.0})
    media = write_zip(tmp_path / "pan.zip", {f"{i}.jpg": data for i, data in enumerate(frames)})
    spec = make_spec("pan.zip", **{"imageProcessing.filterBlurryImages": "false"})

    run_frames(spec, media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert len(manifest.frames) == 5 and manifest.dropped == []


def test_transforms_json_priors_are_carried_and_blur_filter_is_skipped(tmp_path: Path) -> None:
    names = ["0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"]
    members = {f"fox/images/{n}": (FOX / "images" / n).read_bytes() for n in names}
    members["fox/transforms.json"] = (FOX / "transforms.json").read_bytes()
    # A blurred photo, which the blur filter drops (checked below) unless pose priors switch it off.
    blurred = Image.open(FOX / "images/0006.jpg").filter(ImageFilter.GaussianBlur(6))
    members["fox/images/0006.jpg"] = encode(blurred, "JPEG")
    media = write_zip(tmp_path / "fox.zip", members)
    spec = make_spec("fox.zip", **{"sfm.posePriors.usePosePriorTransformJson.enable": True})

    metrics = run_frames(spec, media, tmp_path / "out", max_image_side=480)

    manifest = FramesManifest.read(tmp_path / "out")
    assert (tmp_path / "out/priors/transforms.json").read_bytes() == (FOX / "transforms.json").read_bytes()
    assert manifest.priors == "transforms_json" and manifest.priors_source == "fox/transforms.json"
    assert [f.source for f in manifest.frames] == [f"fox/images/{n}" for n in [*names, "0006.jpg"]]
    assert manifest.dropped == [] and metrics["blur_filter"] is False
    first = manifest.frames[0]
    assert (first.source_width, first.source_height, first.width, first.height) == (1080, 1920, 270, 480)
    # The loader maps file_path (relative to transforms.json's folder) onto member paths: they line up.
    listed = {f["file_path"] for f in json.loads((FOX / "transforms.json").read_text())["frames"]}
    assert {"fox/" + p for p in listed} >= {f.source for f in manifest.frames}

    without_priors = run_frames(make_spec("fox.zip"), media, tmp_path / "plain", max_image_side=480)
    assert without_priors["blur_filter"] is True
    assert [d["source"] for d in FramesManifest.read(tmp_path / "plain").dropped] == ["fox/images/0006.jpg"]


def test_colmap_model_priors_are_copied_untouched_and_masks_are_not_frames(tmp_path: Path) -> None:
    names = sorted(p.name for p in (STATUE / "images").iterdir())[:4]
    members = {f"images/{n}": (STATUE / "images" / n).read_bytes() for n in names}
    members.update({f"masks/{n}": (STATUE / "masks" / n).read_bytes() for n in names[:2]})
    for model_file in ("cameras.bin", "images.bin", "points3D.bin"):
        members[f"sparse/0/{model_file}"] = (STATUE / "sparse/0" / model_file).read_bytes()
    media = write_zip(tmp_path / "statue.zip", members)
    spec = make_spec("statue.zip", **{"sfm.posePriors.usePosePriorColmapModelFiles": True})

    metrics = run_frames(spec, media, tmp_path / "out", max_image_side=400)

    manifest = FramesManifest.read(tmp_path / "out")
    copied = sorted(p.name for p in (tmp_path / "out/priors/sparse").iterdir())
    assert copied == ["cameras.bin", "images.bin", "points3D.bin"]
    for name in copied:
        assert (tmp_path / "out/priors/sparse" / name).read_bytes() == (STATUE / "sparse/0" / name).read_bytes()
    assert manifest.priors == "colmap_model" and manifest.priors_source == "sparse/0"
    # Natural order: the 10-digit Flickr id sorts before the 11-digit ones (plain sorting puts it last).
    assert [f.source for f in manifest.frames] == [f"images/{n}" for n in [names[3], *names[:3]]]
    assert names[3].startswith("2252182845")
    assert all((f.source_width, f.source_height, f.width, f.height) == (800, 1200, 267, 400) for f in manifest.frames)
    assert metrics["priors_files"] == 3 and metrics["frame_count"] == 4


def test_text_colmap_model_directly_in_sparse_is_carried(tmp_path: Path) -> None:
    members = {f"scene/images/{i}.jpg": data for i, data in enumerate(pan_sequence(3, {}))}
    for model_file in ("cameras.txt", "images.txt", "points3D.txt"):
        members[f"scene/sparse/{model_file}"] = (STATUE / "sparse/0" / model_file).read_bytes()
    media = write_zip(tmp_path / "scene.zip", members)
    spec = make_spec("scene.zip", **{"sfm.posePriors.usePosePriorColmapModelFiles": True})

    run_frames(spec, media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert manifest.priors == "colmap_model" and manifest.priors_source == "scene/sparse"
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        assert (tmp_path / "out/priors/sparse" / name).read_bytes() == (STATUE / "sparse/0" / name).read_bytes()
    assert len(manifest.frames) == 3


def test_depth_maps_named_by_transforms_json_are_not_frames(tmp_path: Path) -> None:
    # NeRFCapture keeps depth maps next to the photos and names them in each frame's depth_path.
    photos = pan_sequence(2, {})
    frames = [{"file_path": f"images/{i}", "depth_path": f"images/{i}.depth.png"} for i in range(2)]
    members = {
        "transforms.json": json.dumps({"frames": frames}).encode(),
        "images/0.png": photos[0],
        "images/0.depth.png": encode(Image.new("I;16", (240, 240)), "PNG"),
        "images/1.png": photos[1],
        "images/1.depth.png": encode(Image.new("I;16", (240, 240)), "PNG"),
    }
    media = write_zip(tmp_path / "capture.zip", members)
    spec = make_spec("capture.zip", **{"sfm.posePriors.usePosePriorTransformJson.enable": True})

    run_frames(spec, media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert [f.source for f in manifest.frames] == ["images/0.png", "images/1.png"]
    assert manifest.priors_source == "transforms.json"


def test_requested_priors_missing_from_the_zip_is_a_clear_error(tmp_path: Path) -> None:
    media = write_zip(tmp_path / "plain.zip", {"images/a.jpg": pan_sequence(1, {})[0]})
    spec = make_spec("plain.zip", **{"sfm.posePriors.usePosePriorTransformJson.enable": True})

    with pytest.raises(StageError, match=r"the zip has no transforms\.json"):
        run_frames(spec, media, tmp_path / "out")


def test_unreadable_photo_is_recorded_and_skipped(tmp_path: Path) -> None:
    good = pan_sequence(2, {})
    members = {"a.jpg": good[0], "b.jpg": b"\xff\xd8 truncated JPEG", "c.png": good[1]}
    media = write_zip(tmp_path / "some.zip", members)

    metrics = run_frames(make_spec("some.zip"), media, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert [(f.name, f.source) for f in manifest.frames] == [("000000.jpg", "a.jpg"), ("000001.jpg", "c.png")]
    assert [(d["source"], d["reason"]) for d in manifest.dropped] == [("b.jpg", "unreadable")]
    assert metrics["dropped_count"] == 1


def test_zip_without_images_is_a_clear_error(tmp_path: Path) -> None:
    # Camera RAW is not read: the message lists what is, the hint says to convert.
    media = write_zip(tmp_path / "docs.zip", {"readme.txt": b"hello", "photo.DNG": b"II*\x00" + b"\x00" * 60})

    with pytest.raises(
        StageError, match=r"the zip docs\.zip holds no photos \(\.jpg, \.jpeg, \.png, \.heic, "
    ) as error:
        run_frames(make_spec("docs.zip"), media, tmp_path / "out")
    assert "it holds 1 .dng, 1 .txt (camera RAW)" in error.value.message
    assert error.value.hint == "convert the RAW files to JPEG first"


@pytest.mark.parametrize(
    ("files", "found", "hint"),
    [
        ({"photos.zip": b"PK\x05\x06" + b"\x00" * 18}, "1 .zip (a zip inside the zip)", "zip the photos themselves"),
        ({"clip.MOV": b"\x00" * 64, "notes.txt": b"x"}, "(a video)", "upload the video itself"),
        ({"masks/0001.png": b"\x89PNG"}, "1 .png (photos only under masks/)", "put the photos outside them"),
        ({"scan.tif": b"II*\x00", "scan.dng": b"II*\x00"}, "(camera RAW; TIFF)", "convert the RAW files"),
    ],
)
def test_a_zip_without_photos_says_what_it_holds_instead(
    tmp_path: Path, files: dict[str, bytes], found: str, hint: str
) -> None:
    media = write_zip(tmp_path / "upload.zip", files)
    with pytest.raises(StageError, match="holds no photos") as error:
        run_frames(make_spec("upload.zip"), media, tmp_path / "out")
    assert found in error.value.message and hint in error.value.hint


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    media = tmp_path / "photos.zip"
    media.write_bytes(b"Rar!\x1a\x07\x00 not a zip")

    with pytest.raises(StageError, match=r"cannot read photos\.zip as a zip archive"):
        run_frames(make_spec("photos.zip"), media, tmp_path / "out")


def test_photos_decode_on_every_core_unless_told_otherwise() -> None:
    from gs_stages.frames.settings import FramesSettings
    from gs_stages.stage import available_cores

    assert FramesSettings.from_mapping({}).num_threads == min(8, available_cores())
    assert FramesSettings.from_mapping({"num_threads": 3}).num_threads == 3
    assert FramesSettings.from_mapping({"num_threads": 0}).num_threads == min(8, available_cores())  # 0: every core
    with pytest.raises(StageError, match="num_threads must be at least 0, got -1"):
        FramesSettings.from_mapping({"num_threads": -1})
