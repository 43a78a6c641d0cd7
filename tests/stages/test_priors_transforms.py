"""transforms.json → COLMAP poses and intrinsics, on the fox capture's real file and on synthetic ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.priors.conventions import camera_centre
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.stage import StageError

from .sfm_fixtures import FOX

FOX_MISSING = ["0005", "0016", "0017", "0024", "0032", "0051", "0068", "0071", "0075"]
FOX_MISSING += ["0083", "0087", "0088", "0093", "0099", "0104", "0106", "0113"]
LOG = logging.getLogger("gs_stages.test")


def _fox_manifest(scale: int = 3) -> FramesManifest:
    """What the frames stage records for the fox zip, images written at 1/scale size (no pixels needed)."""
    files = sorted((FOX / "images").glob("*.jpg"))
    records = [
        FrameRecord(f"{i:06d}.jpg", f"fox/images/{p.name}", 1080 // scale, 1920 // scale, 1080, 1920, 0.0)
        for i, p in enumerate(files)
    ]
    return FramesManifest("archive", "fox.zip", records, priors="transforms_json", priors_source="fox/transforms.json")


def test_fox_keeps_50_frames_and_skips_17_missing_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    manifest = _fox_manifest()
    with caplog.at_level(logging.WARNING):
        priors = load_transforms_priors(FOX / "transforms.json", manifest, "opengl", False, LOG)
    assert len(priors.frames) == 50
    assert priors.listed == 67
    assert sorted(Path(p).stem for p in priors.missing) == FOX_MISSING
    assert priors.unposed == []
    assert any("17 of 67 frames" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert [f.name for f in priors.frames] == [r.name for r in manifest.frames]


def test_fox_intrinsics_are_scaled_to_the_written_size_and_keep_distortion() -> None:
    priors = load_transforms_priors(FOX / "transforms.json", _fox_manifest(scale=3), "opengl", False, LOG)
    intrinsics = priors.frames[0].intrinsics
    assert (intrinsics.width, intrinsics.height) == (360, 640)
    assert intrinsics.fx == pytest.approx(1375.52 / 3)
    assert intrinsics.fy == pytest.approx(1374.49 / 3)
    assert intrinsics.cx == pytest.approx(554.558 / 3)
    assert intrinsics.cy == pytest.approx(965.268 / 3)
    model, params = intrinsics.colmap()
    assert model == "OPENCV"
    assert params[4:] == pytest.approx([0.0578421, -0.0805099, -0.000980296, 0.00015575])


def test_camera_to_world_is_inverted_so_centres_are_the_matrix_translations() -> None:
    document = json.loads((FOX / "transforms.json").read_text())
    given = {Path(f["file_path"]).name: np.array(f["transform_matrix"]) for f in document["frames"]}
    manifest = _fox_manifest()
    sources = {r.name: Path(r.source).name for r in manifest.frames}
    priors = load_transforms_priors(FOX / "transforms.json", manifest, "opengl", False, LOG)
    for frame in priors.frames:  # the fox rotations are orthonormal to about 1e-7, hence the tolerance
        np.testing.assert_allclose(camera_centre(frame.cam_from_world), given[sources[frame.name]][:3, 3], atol=1e-5)


def _synthetic(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "transforms.json"
    path.write_text(json.dumps(document))
    return path


def _manifest(sources: list[str], written: tuple[int, int], source: tuple[int, int]) -> FramesManifest:
    records = [FrameRecord(f"{i:06d}.jpg", s, *written, *source, 0.0) for i, s in enumerate(sources)]
    return FramesManifest("archive", "x.zip", records, priors="transforms_json", priors_source="cap/transforms.json")


def test_paths_without_extension_and_per_frame_intrinsics(tmp_path: Path) -> None:
    eye = np.eye(4).tolist()
    document = {
        "camera_angle_x": 2 * np.arctan(0.5),  # focal = width for the frames without fl_x
        "frames": [
            {"file_path": "images/a", "transform_matrix": eye},
            {
                "file_path": "./images/b.png",
                "transform_matrix": eye,
                "fl_x": 300.0,
                "fl_y": 310.0,
                "cx": 190.0,
            },
        ],
    }
    manifest = _manifest(["cap/images/a.jpg", "cap/images/b.jpg", "cap/images/c.jpg"], (200, 150), (400, 300))
    priors = load_transforms_priors(_synthetic(tmp_path, document), manifest, "opencv", True, LOG)
    first, second = priors.frames
    assert (first.name, second.name) == ("000000.jpg", "000001.jpg")
    assert priors.unposed == ["000002.jpg"]
    assert first.intrinsics.fx == pytest.approx(200.0) and first.intrinsics.cx == pytest.approx(100.0)
    assert first.intrinsics.colmap()[0] == "PINHOLE"
    assert (second.intrinsics.fx, second.intrinsics.fy, second.intrinsics.cx) == pytest.approx((150, 155, 95))
    assert second.intrinsics.cy == pytest.approx(75.0)  # default: the image centre


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"file_path": "images/a", "transform_matrix": [[1, 0], [0, 1]]}, r"frames\[0\] \(images/a\).*shape"),
        ({"file_path": "images/a", "transform_matrix": np.diag([1, 1, 3, 1]).tolist()}, "not a rotation"),
        ({"file_path": "images/a"}, "no transform_matrix"),
        ({"transform_matrix": np.eye(4).tolist()}, "no file_path"),
        (
            {"file_path": "images/a", "transform_matrix": np.eye(4).tolist(), "w": 300, "h": 400},
            "another shape",
        ),
        (
            {"file_path": "images/a", "transform_matrix": np.eye(4).tolist(), "fl_x": "wide"},
            "expected a number",
        ),
    ],
)
def test_bad_frames_are_refused_with_the_frame_named(tmp_path: Path, frame: dict, message: str) -> None:
    document = {"fl_x": 100.0, "frames": [frame]}
    manifest = _manifest(["cap/images/a.jpg"], (200, 150), (400, 300))
    with pytest.raises(StageError, match=message):
        load_transforms_priors(_synthetic(tmp_path, document), manifest, "opengl", False, LOG)


def test_a_file_that_is_not_transforms_json_is_refused(tmp_path: Path) -> None:
    manifest = _manifest(["cap/images/a.jpg"], (200, 150), (400, 300))
    (tmp_path / "transforms.json").write_text('{"camera": "no frames here"}')
    with pytest.raises(StageError, match="no 'frames' list"):
        load_transforms_priors(tmp_path / "transforms.json", manifest, "opengl", False, LOG)
