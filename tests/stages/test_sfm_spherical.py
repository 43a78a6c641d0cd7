"""360° input end to end through the frames and sparse_model stages, on a ray-cast room with a known
camera path: the views must register as one rig with the exact camera, at the known centres."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest
import torch

from gs_stages.sfm.alignment import align_centres
from gs_stages.splat.scene import load_scene
from gs_stages.stage import StageError

from .jobs import make_spec, run_frames
from .sfm_fixtures import kermit_frames, run_sparse, sparse_model
from .spherical_scenes import Room, camera_path, render_equirect, write_equirect_zip, yaw_rotation

FRAMES = 8
#: 768x384 panoramas give 192 px views: small enough for seconds of SIFT and matching on 2 cores.
WIDTH = 768
FACE = WIDTH // 4
#: Fewer features than the default 8192 keep matching fast; a 192 px view of the room has about 1000.
SETTINGS = {"sfm_max_num_features": 1000}


@pytest.fixture(scope="module")
def panoramas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    room = Room()
    textures = room.textures()
    media = tmp_path_factory.mktemp("room") / "room.zip"
    write_equirect_zip(media, [render_equirect(room, textures, c, r, WIDTH) for c, r in camera_path(FRAMES)])
    return media


def _frame_of(name: str) -> int:
    return int(name.split("_")[1].removesuffix(".jpg"))


@pytest.mark.parametrize(
    ("mapper", "removed", "connecting", "views"),
    [("glomap", [], True, 10), ("colmap", ["down"], False, 5)],
)
def test_room_views_register_as_one_rig_at_the_known_centres(
    panoramas: Path, tmp_path: Path, mapper: str, removed: list[str], connecting: bool, views: int
) -> None:
    spec = make_spec(
        "room.zip",
        **{
            "sphericalCamera.enable": True,
            "sphericalCamera.cubeFacesToRemove": removed,
            "sphericalCamera.optimizeSequentialFrameOrder": connecting,
            "sfm.softwareName": mapper,
            "sfm.matchingMethod": "sequential",
        },
    )
    frames = run_frames(spec, panoramas, tmp_path / "frames")
    assert frames["frame_count"] == FRAMES * views and frames["face_size_px"] == FACE
    metrics = run_sparse(spec, tmp_path / "frames", tmp_path / "sparse", **SETTINGS)

    assert metrics["input_images"] == FRAMES * views
    assert metrics["registered_images"] >= 0.9 * FRAMES * views
    assert metrics["registered_frames"] == FRAMES
    assert metrics["rig_cameras"] == metrics["cameras"] == views
    assert 0 < metrics["mean_reprojection_error_px"] < 1.0
    model = sparse_model(tmp_path / "sparse")
    # The exact camera, never refined: PINHOLE, f = size / 2, centred.
    for camera in model.cameras.values():
        assert camera.model == pycolmap.CameraModelId.PINHOLE and (camera.width, camera.height) == (FACE, FACE)
        assert list(camera.params) == [FACE / 2] * 4

    centres: dict[int, list[np.ndarray]] = {}
    front: dict[int, np.ndarray] = {}
    for image in model.images.values():
        if image.has_pose:
            centres.setdefault(_frame_of(image.name), []).append(np.asarray(image.projection_center()))
            if image.name.startswith("front_"):
                front[_frame_of(image.name)] = image.cam_from_world().rotation.matrix()
    path = camera_path(FRAMES)
    alignment = align_centres(
        {f"{k:06d}": np.mean(v, axis=0) for k, v in centres.items()},
        {f"{k:06d}": centre for k, (centre, _) in enumerate(path)},
    )
    # All views of a frame share its centre (one rig pose) ...
    spread = max(float(np.ptp(np.array(v), axis=0).max()) for v in centres.values())
    assert spread * alignment.reference_from_model.scale < 1e-6 * alignment.extent
    # ... and the frames sit on the known path, to a small fraction of its extent (measured: 5e-5).
    assert alignment.median_relative_error < 0.005
    assert max(alignment.errors.values()) < 0.01 * alignment.extent
    # The camera turned 12° right per frame: the recovered relative rotations say the same.
    for k, cam_from_world in front.items():
        relative = front[0] @ cam_from_world.T  # frame 0's camera from frame k's
        expected = yaw_rotation(12.0 * k)
        angle = np.degrees(np.arccos(np.clip((np.trace(relative.T @ expected) - 1) / 2, -1, 1)))
        assert angle < 0.5, (k, angle)

    # The splat stage's loader reads the rig model: every posed view, at its rig pose and exact camera.
    scene = load_scene(tmp_path / "frames", tmp_path / "sparse", downscale=1)
    views = {view.name: view for view in [*scene.train, *scene.test]}
    posed = {image.name: image for image in model.images.values() if image.has_pose}
    assert set(views) == set(posed)
    for name, view in views.items():
        assert torch.allclose(
            view.viewmat[:3, :4], torch.tensor(posed[name].cam_from_world().matrix()).float(), atol=1e-5
        )
        assert view.K[0, 0] == view.K[1, 1] == FACE / 2 and (view.width, view.height) == (FACE, FACE)


def test_frames_that_are_not_views_are_refused(tmp_path: Path) -> None:
    kermit_frames(tmp_path / "frames", max_side=320)
    spec = make_spec(**{"sphericalCamera.enable": True})
    with pytest.raises(StageError, match=r"the frame '000000\.jpg' is not a view of a 360° frame"):
        run_sparse(spec, tmp_path / "frames", tmp_path / "out")
