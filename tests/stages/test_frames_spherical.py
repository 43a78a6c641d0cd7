"""The frames stage on 360° input: exact view geometry, the real office frame, a sixth of the video
frames, and clear refusals that leave nothing behind."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from gs_stages.frames.spherical import CUBE_FACES, EquirectSplitter, view_names
from gs_stages.layout import FramesManifest
from gs_stages.stage import StageError
from tests.shared_data import DATA

from .jobs import make_spec, run_frames
from .spherical_scenes import direction_colour, equirect_directions, view_directions

OFFICE = DATA / "equirect_office" / "equirect_crop.jpg"
KERMIT_PHOTO = DATA / "kermit" / "kermit000.jpg"
ALL_VIEWS = view_names([], connecting=True)
#: Bicubic interpolation error of the smooth test colour at 512x256 (measured: at most 0.093 of 255).
#: Half a pixel of misplacement costs about 0.8, so this catches any off-by-half convention slip.
INTERPOLATION_TOLERANCE = 0.25


def _zip(path: Path, *files: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in files:
            archive.write(file, f"pano/{file.name}")
    return path


def test_every_view_pixel_is_the_equirect_colour_of_its_ray() -> None:
    """Each pixel of each view equals the colour function at that pixel's ray (bicubic error only)."""
    equirect = direction_colour(equirect_directions(512, 256))
    views = EquirectSplitter(ALL_VIEWS, 128).split(equirect)
    assert list(views) == ALL_VIEWS
    for view, pixels in views.items():
        expected = direction_colour(view_directions(view, 128))
        error = np.abs(pixels - expected)
        assert error.max() < INTERPOLATION_TOLERANCE, (view, float(error.max()))


def _edge(face: np.ndarray, side: str) -> np.ndarray:
    """The face extrapolated to its border (half a pixel past the outer pixel centres), as a line."""
    lines = {"left": face[:, :2], "right": face[:, -1:-3:-1], "top": face[:2], "bottom": face[-1:-3:-1]}[side]
    lines = lines.astype(np.float32)
    outer, inner = (lines[:, 0], lines[:, 1]) if side in ("left", "right") else (lines[0], lines[1])
    return 1.5 * outer - 0.5 * inner


#: Borders two cube faces share: (face, side, face, side, reversed); both lines run left-to-right or
#: top-to-bottom in their own image.
SEAMS = [
    ("front", "right", "right", "left", False),
    ("right", "right", "back", "left", False),
    ("back", "right", "left", "left", False),
    ("left", "right", "front", "left", False),
    ("up", "bottom", "front", "top", False),
    ("down", "top", "front", "bottom", False),
    ("up", "top", "back", "top", True),
    ("up", "right", "right", "top", True),
]


def test_neighbouring_faces_of_the_office_frame_agree_along_their_shared_border() -> None:
    office = cv2.resize(cv2.imread(str(OFFICE)), (2048, 1024), interpolation=cv2.INTER_AREA)
    faces = EquirectSplitter(CUBE_FACES, 512).split(office)
    for first, first_side, second, second_side, reverse in SEAMS:
        one = _edge(faces[first], first_side)
        other = _edge(faces[second], second_side)
        other = other[::-1] if reverse else other
        # Medians: a few pixels on hard edges (ceiling lights) differ by more than the interpolation.
        seam = float(np.median(np.abs(one - other)))
        mismatched = float(np.median(np.abs(one - other[::-1])))  # the same border, paired the wrong way round
        assert seam <= 2.0, (first, second, seam)
        assert mismatched > 4 * seam, (first, second, seam, mismatched)


@pytest.mark.parametrize(
    ("removed", "connecting", "expected"),
    [
        (["down"], True, ["front", "right", "back", "left", "up", *ALL_VIEWS[6:]]),
        ("['up', 'down', 'left']", True, ["front", "right", "back", "front-right", "right-back"]),
        ([], False, list(CUBE_FACES)),
    ],
)
def test_the_office_frame_splits_into_the_kept_views(
    tmp_path: Path, removed: list[str] | str, connecting: bool, expected: list[str]
) -> None:
    media = _zip(tmp_path / "office.zip", OFFICE)
    spec = make_spec(
        "office.zip",
        **{
            "sphericalCamera.enable": True,
            "sphericalCamera.cubeFacesToRemove": removed,
            "sphericalCamera.optimizeSequentialFrameOrder": connecting,
        },
    )
    output = tmp_path / "out"
    metrics = run_frames(spec, media, output, max_image_side=480)

    names = [f"{view}_000000.jpg" for view in expected]
    assert sorted(p.name for p in (output / "images").iterdir()) == sorted(names)
    manifest = FramesManifest.read(output)
    assert [f.name for f in manifest.frames] == names
    for record in manifest.frames:
        assert (record.width, record.height) == (480, 480)  # max_image_side bounds the views, not the panorama
        assert (record.source, record.source_width, record.source_height) == ("pano/equirect_crop.jpg", 5760, 2880)
        assert cv2.imread(str(output / "images" / record.name)).shape == (480, 480, 3)
    stored = json.loads((output / "metrics.json").read_text())
    for key, value in {
        "spherical": True,
        "equirect_frames": 1,
        "frame_count": len(expected),
        "views_per_frame": len(expected),
        "views": expected,
        "face_size_px": 480,
        "connecting_views": connecting,
    }.items():
        assert metrics[key] == stored[key] == value, key
    assert set(metrics["removed_faces"]) == set(spec.spherical_camera.cube_faces_to_remove)
    assert not (output / ".equirect").exists()


def test_a_photo_that_is_not_2_to_1_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    media = _zip(tmp_path / "mixed.zip", OFFICE, KERMIT_PHOTO)
    spec = make_spec("mixed.zip", **{"sphericalCamera.enable": True})
    output = tmp_path / "out"
    with pytest.raises(StageError, match=r"kermit000\.jpg.* is 640x480, not 2:1 equirectangular") as error:
        run_frames(spec, media, output, max_image_side=480)
    assert "What to try: export the 360° footage as equirectangular" in str(error.value)
    assert "sphericalCamera.enable to false" in str(error.value)
    assert not output.exists()


def _equirect_video(path: Path, frames: int) -> None:
    """A short 2:1 clip whose frames are noise drifting sideways (a camera turning)."""
    rng = np.random.default_rng(5)
    texture = cv2.resize(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8), (256, 128), interpolation=cv2.INTER_NEAREST)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 128))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.roll(texture, 4 * i, axis=1))
    writer.release()


def test_spherical_video_takes_a_sixth_of_max_num_images(tmp_path: Path) -> None:
    video = tmp_path / "pano.mp4"
    _equirect_video(video, 30)
    spec = make_spec(
        "pano.mp4",
        **{
            "sphericalCamera.enable": True,
            "sphericalCamera.optimizeSequentialFrameOrder": False,
            "videoProcessing.maxNumImages": 13,
        },
    )
    metrics = run_frames(spec, video, tmp_path / "out")
    assert metrics["frames_requested"] == metrics["equirect_frames"] == 2  # 13 // 6
    assert metrics["frame_count"] == 12 and metrics["face_size_px"] == 64
    expected = sorted(f"{face}_{frame:06d}.jpg" for frame in range(2) for face in CUBE_FACES)
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == expected
    sources = [f.source for f in FramesManifest.read(tmp_path / "out").frames]
    assert len(set(sources)) == 2 and all(sources.count(s) == 6 for s in sources)  # one video frame per 6 views


def test_a_video_that_is_not_2_to_1_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "flat.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(5):
        writer.write(np.full((120, 160, 3), 40 * i, dtype=np.uint8))
    writer.release()
    spec = make_spec("flat.mp4", **{"sphericalCamera.enable": True})
    with pytest.raises(StageError, match=r"flat\.mp4 \(frame:\d+\) is 160x120, not 2:1"):
        run_frames(spec, video, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a refused run leaves nothing


def test_pose_priors_with_spherical_input_are_refused(tmp_path: Path) -> None:
    media = _zip(tmp_path / "office.zip", OFFICE)
    spec = make_spec(
        "office.zip", **{"sphericalCamera.enable": True, "sfm.posePriors.usePosePriorTransformJson.enable": True}
    )
    with pytest.raises(StageError, match="cannot be combined with pose priors"):
        run_frames(spec, media, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a refused run leaves nothing
