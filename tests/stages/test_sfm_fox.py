"""The fox capture (NeRF/instant-ngp): transforms.json poses kept and triangulated, and SfM without them.

fox/transforms.json is camera-to-world in OpenGL camera axes and lists 67 frames for 50 images.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from gs_stages.layout import PRIORS_DIR, TRANSFORMS_JSON, FramesManifest
from gs_stages.priors.transforms_json import load_transforms_priors
from gs_stages.sfm.alignment import align_centres, model_centres, prior_centres
from gs_stages.stage import StageError

from .jobs import make_spec
from .sfm_fixtures import FOX, fox_frames, run_sparse, sparse_model, write_frames

PRIORS = "sfm.posePriors.usePosePriorTransformJson"
FOX_PRIORS = {f"{PRIORS}.enable": True, f"{PRIORS}.sourceCoordinateName": "opengl"}


@pytest.fixture(scope="module")
def fox_with_priors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = tmp_path_factory.mktemp("fox-priors")
    fox_frames(frames, max_side=480)
    return frames


def _reference_poses(frames: Path) -> dict[str, np.ndarray]:
    priors = load_transforms_priors(
        frames / PRIORS_DIR / TRANSFORMS_JSON,
        FramesManifest.read(frames),
        "opengl",
        False,
        logging.getLogger(),
    )
    return {f.name: f.cam_from_world for f in priors.frames}


def test_fox_priors_are_kept_and_triangulated(
    fox_with_priors: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = make_spec(**FOX_PRIORS, **{f"{PRIORS}.poseIsWorldToCam": "false", "sfm.matchingMethod": "sequential"})
    with caplog.at_level(logging.WARNING):
        metrics = run_sparse(spec, fox_with_priors, tmp_path / "out")
    assert any("17 of 67 frames" in r.getMessage() for r in caplog.records)
    assert metrics["pose_source"] == "transforms_json"
    assert (metrics["registered_images"], metrics["prior_images_missing"]) == (50, 17)
    assert metrics["points3d"] >= 1000
    assert metrics["mean_reprojection_error_px"] < 2.0

    model = sparse_model(tmp_path / "out")
    assert (model.num_reg_images(), model.num_points3D()) == (50, metrics["points3d"])
    assert model.compute_mean_reprojection_error() < 2.0
    written = sorted(p.name for p in (fox_with_priors / "images").iterdir())
    assert sorted(i.name for i in model.images.values()) == written
    # Poses and intrinsics are the priors' (held fixed while triangulating), not re-estimated.
    for name, expected in _reference_poses(fox_with_priors).items():
        image = model.find_image_with_name(name)
        np.testing.assert_allclose(image.cam_from_world().matrix(), expected[:3], atol=1e-9)
    camera = next(iter(model.cameras.values()))
    assert camera.model_name == "OPENCV" and (camera.width, camera.height) == (270, 480)
    assert camera.params[:4] == pytest.approx([1375.52 / 4, 1374.49 / 4, 554.558 / 4, 965.268 / 4])


def test_fox_without_priors_registers_and_matches_the_capture_poses(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    fox_frames(frames, max_side=480, with_priors=False)
    spec = make_spec(**{"sfm.matchingMethod": "sequential", "sfm.softwareName": "colmap"})
    metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["pose_source"] == "sfm"
    assert metrics["registered_images"] >= 45 and metrics["input_images"] == 50

    # Compare with the capture's poses after a similarity (the SfM frame is arbitrary).
    reference_frames = tmp_path / "reference"
    (reference_frames / PRIORS_DIR).mkdir(parents=True)
    (reference_frames / PRIORS_DIR / TRANSFORMS_JSON).write_bytes((FOX / TRANSFORMS_JSON).read_bytes())
    manifest = FramesManifest.read(frames)
    manifest.priors_source = "fox/transforms.json"
    manifest.write(reference_frames)
    reference = prior_centres(_reference_poses(reference_frames))
    alignment = align_centres(model_centres(sparse_model(tmp_path / "out")), reference)
    assert len(alignment.errors) >= 45
    assert alignment.median_relative_error < 0.02, alignment.median_error


def _fox_subset_in_ros_world_to_camera(frames: Path) -> None:
    """13 fox frames whose transforms.json is rewritten as ROS-body world-to-camera matrices, with
    per-frame intrinsics as NeRFCapture writes them (ARKit refines the focal length per frame).

    A ROS camera body's axes, in OpenGL camera axes: forward = -z, left = -x, up = +y.
    """
    document = json.loads((FOX / TRANSFORMS_JSON).read_text())
    files = sorted((FOX / "images").glob("*.jpg"))[::4]
    wanted = {f"images/{p.name}" for p in files}
    document["frames"] = [f for f in document["frames"] if f["file_path"] in wanted]
    for index, frame in enumerate(document["frames"]):
        frame["fl_x"] = document["fl_x"] * (1 + 1e-4 * index)
        gl_camera_to_world = np.array(frame["transform_matrix"])
        x, y, z = gl_camera_to_world[:3, :3].T
        ros_camera_to_world = gl_camera_to_world.copy()
        ros_camera_to_world[:3, :3] = np.column_stack([-z, -x, y])
        frame["transform_matrix"] = np.linalg.inv(ros_camera_to_world).tolist()
        frame["file_path"] = frame["file_path"].removesuffix(".jpg")  # the schema allows no extension
    (frames / PRIORS_DIR).mkdir(parents=True)
    (frames / PRIORS_DIR / TRANSFORMS_JSON).write_text(json.dumps(document))
    members = [(p, f"capture/images/{p.name}") for p in files]
    write_frames(frames, members, 320, priors="transforms_json", priors_source="capture/transforms.json")


def test_ros_world_to_camera_priors_with_sfm_disabled_still_triangulate(tmp_path: Path) -> None:
    """sfm.enable=false with transforms.json: the poses are used and points triangulated anyway."""
    frames = tmp_path / "frames"
    _fox_subset_in_ros_world_to_camera(frames)
    spec = make_spec(
        **{
            f"{PRIORS}.enable": True,
            f"{PRIORS}.sourceCoordinateName": "ros",
            f"{PRIORS}.poseIsWorldToCam": True,
            "sfm.enable": False,
            "sfm.matchingMethod": "exhaustive",
        }
    )
    metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["registered_images"] == 13
    assert metrics["points3d"] >= 300
    assert metrics["mean_reprojection_error_px"] < 2.0
    model = sparse_model(tmp_path / "out")
    focal_lengths = sorted(camera.params[0] for camera in model.cameras.values())
    assert len(focal_lengths) == 13  # one camera per frame, each with its own focal length
    scale = 320 / 1920
    assert focal_lengths == pytest.approx([1375.52 * (1 + 1e-4 * i) * scale for i in range(13)])


def test_priors_read_in_the_wrong_convention_fail_with_advice(tmp_path: Path) -> None:
    """The same matrices read as camera-to-world cannot explain the matches: say what to check."""
    frames = tmp_path / "frames"
    _fox_subset_in_ros_world_to_camera(frames)
    spec = make_spec(
        **{
            f"{PRIORS}.enable": True,
            f"{PRIORS}.sourceCoordinateName": "ros",
            f"{PRIORS}.poseIsWorldToCam": False,
            "sfm.matchingMethod": "exhaustive",
        }
    )
    with pytest.raises(StageError, match="poseIsWorldToCam") as error:
        run_sparse(spec, frames, tmp_path / "out")
    assert "do not fit the images" in str(error.value)
