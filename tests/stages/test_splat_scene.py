"""Scene loading: undistortion of a real COLMAP model, the held-out split, downscaling, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
import torch

from gs_stages.splat.scene import _auto_downscale, load_scene
from gs_stages.stage import StageError
from tests.shared_data import DATA

from .splat_scenes import make_scene

STATUE = DATA / "statue_of_liberty_colmap"


def _sample(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Bilinear colours at continuous pixel coordinates (COLMAP's: pixel centres at +0.5)."""
    coords = (pixels - 0.5).astype(np.float32)
    return cv2.remap(image, coords[:, None, 0], coords[:, None, 1], cv2.INTER_LINEAR)[:, 0].astype(np.float32)


@pytest.mark.parametrize("undistort", ["crop", "colmap"])
def test_distorted_camera_is_undistorted_to_a_pinhole_with_the_same_content(undistort: str) -> None:
    """SfM points land on the same colours in the undistorted view (ideal pinhole) as in the photo
    (real SIMPLE_RADIAL camera, k = -0.68); without undistortion they would not."""
    scene = load_scene(STATUE, STATUE, None, downscale=1, undistort=undistort)
    assert scene.undistorted and len(scene.test) == 5 and len(scene.train) == 35
    reconstruction = pycolmap.Reconstruction(str(STATUE / "sparse" / "0"))
    by_name = {im.name: im for im in reconstruction.images.values()}
    for view in scene.test[:2]:
        image = by_name[view.name]
        ids = [p.point3D_id for p in image.points2D if p.has_point3D()]
        xyz = np.array([reconstruction.points3D[i].xyz for i in ids])
        cam = (view.viewmat[:3, :3].double().numpy() @ xyz.T + view.viewmat[:3, 3].double().numpy()[:, None]).T
        pinhole = (view.K.double().numpy() @ (cam / cam[:, 2:]).T).T[:, :2]
        distorted = reconstruction.cameras[image.camera_id].img_from_cam(cam)
        photo = cv2.cvtColor(cv2.imread(str(STATUE / "images" / view.name)), cv2.COLOR_BGR2RGB)
        inside = (pinhole > 2).all(1) & (pinhole < [view.width - 2, view.height - 2]).all(1)
        ours = _sample(view.image.numpy(), pinhole[inside])
        truth = _sample(photo, distorted[inside])
        naive = _sample(photo, pinhole[inside] - [view.width / 2, view.height / 2] + [400, 600])
        assert np.abs(ours - truth).mean() < 3.0  # grey levels out of 255
        assert np.abs(naive - truth).mean() > 3 * np.abs(ours - truth).mean()


def test_crop_undistortion_matches_opencv_and_keeps_only_valid_pixels() -> None:
    """ "crop" is nerfstudio's and gsplat's convention: OpenCV's alpha=0 camera, cropped to its valid
    region. Our resampling (through pycolmap's camera model) must give OpenCV's own undistorted pixels,
    with no blank border; "colmap" keeps the whole field of view, so its images are larger."""
    crop = load_scene(STATUE, STATUE, None, downscale=1, undistort="crop")
    full = load_scene(STATUE, STATUE, None, downscale=1, undistort="colmap")
    reconstruction = pycolmap.Reconstruction(str(STATUE / "sparse" / "0"))
    by_name = {im.name: im for im in reconstruction.images.values()}
    for view, wide in zip(crop.test[:3], full.test[:3], strict=True):
        camera = reconstruction.cameras[by_name[view.name].camera_id]
        f, cx, cy, k = camera.params
        K = np.array([[f, 0, cx - 0.5], [0, f, cy - 0.5], [0, 0, 1]])  # OpenCV: pixel centres at integers
        dist = np.array([k, 0, 0, 0])
        new_K, (x, y, w, h) = cv2.getOptimalNewCameraMatrix(K, dist, (camera.width, camera.height), 0)
        photo = cv2.cvtColor(cv2.imread(str(STATUE / "images" / view.name)), cv2.COLOR_BGR2RGB)
        reference = cv2.undistort(photo, K, dist, None, new_K)[y : y + h, x : x + w].astype(np.float64)
        assert (view.width, view.height) == (w, h)
        assert wide.width * wide.height > 1.05 * w * h
        mse = ((view.image.numpy().astype(np.float64) - reference) ** 2).mean()
        assert 10 * np.log10(255**2 / mse) > 40  # the same pixels, up to interpolation
        assert view.valid is not None and view.valid.float().mean() > 0.999
        assert torch.allclose(view.K[:2, 2], torch.tensor([new_K[0, 2] - x + 0.5, new_K[1, 2] - y + 0.5]).float())


def test_every_eighth_image_is_held_out_and_downscaling_scales_intrinsics(tmp_path: Path) -> None:
    synthetic = make_scene(tmp_path / "scene", n_cameras=17, width=48, height=36)
    scene = load_scene(synthetic.frames, synthetic.sparse, None, downscale=2)
    assert [v.name for v in scene.test] == ["000000.jpg", "000008.jpg", "000016.jpg"]
    assert len(scene.train) == 14 and not scene.undistorted
    view = scene.train[0]
    assert (view.width, view.height) == (24, 18)
    assert torch.allclose(view.K[:2, 2], torch.tensor([12.0, 9.0]))  # principal point follows the image


def test_auto_downscale_is_nerfstudios_1600_px_rule() -> None:
    assert _auto_downscale([(1080, 1920)]) == 2
    assert _auto_downscale([(1600, 900), (800, 600)]) == 1
    assert _auto_downscale([(5760, 2880)]) == 4


def test_a_missing_image_is_named(tmp_path: Path) -> None:
    synthetic = make_scene(tmp_path / "scene", n_cameras=8, width=32, height=24)
    (synthetic.frames / "images" / "000003.jpg").unlink()
    with pytest.raises(StageError, match=r"000003\.jpg"):
        load_scene(synthetic.frames, synthetic.sparse)
    shutil.rmtree(synthetic.sparse / "sparse")
    with pytest.raises(StageError, match="no COLMAP model"):
        load_scene(synthetic.frames, synthetic.sparse)


def test_crop_undistortion_covers_the_opencv_models_and_leaves_fisheye_to_colmap() -> None:
    from gs_stages.splat.undistort import cropped_pinhole

    radial = pycolmap.Camera(model="RADIAL", width=640, height=480, params=[500.0, 320.0, 240.0, -0.2, 0.05])
    opencv = pycolmap.Camera(
        model="OPENCV", width=640, height=480, params=[500.0, 510.0, 320.0, 240.0, 0.1, -0.02, 0.001, 0.0]
    )
    fisheye = pycolmap.Camera(
        model="OPENCV_FISHEYE", width=640, height=480, params=[300.0, 300.0, 320.0, 240.0, 0.1, 0.0, 0.0, 0.0]
    )
    for camera in (radial, opencv):
        pinhole = cropped_pinhole(camera)
        assert pinhole is not None and pinhole.model.name == "PINHOLE"
        assert 0 < pinhole.width <= camera.width and 0 < pinhole.height <= camera.height
        # every corner of the cropped pinhole image sees a point inside the original photo
        corners = np.array([[0.5, 0.5], [pinhole.width - 0.5, 0.5], [0.5, pinhole.height - 0.5],
                            [pinhole.width - 0.5, pinhole.height - 0.5]])  # fmt: skip
        rays = pinhole.cam_from_img(corners)
        source = camera.img_from_cam(np.concatenate([rays, np.ones((4, 1))], axis=1))
        assert (source > -1).all() and (source < [camera.width + 1, camera.height + 1]).all()
    assert cropped_pinhole(fisheye) is None  # load_scene then uses COLMAP's undistorter
