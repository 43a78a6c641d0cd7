"""Synthetic scenes photographed through a lens (fisheye, radial distortion) for the 3dgut tests.

The ball-in-a-room of `splat_scenes.py`, rendered by the PyTorch rasterizer's unscented-transform
path through the lens (with the footprint floor of every 3dgut render of the stage), written as
frames + a COLMAP model whose camera has that lens (e.g. OPENCV_FISHEYE), so the stages see what a
fisheye capture with a good SfM model gives them.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch

from gs_stages.splat.footprint import with_floor
from gs_stages.splat.lens import camera_kwargs, from_colmap
from gs_stages.splat.render_torch import rasterization

from .splat_scenes import SyntheticScene, add_points, circle_poses, ground_truth, scene_folders

#: A strong fisheye: OpenCV fisheye coefficients (a real action-camera lens is of this order).
FISHEYE_K = (0.03, -0.01, 0.002, 0.0)


def fisheye_focal(width: int, height: int, diagonal_fov_deg: float, k: tuple[float, ...] = FISHEYE_K) -> float:
    """The focal length that puts the image corners at half the diagonal field of view."""
    theta = math.radians(diagonal_fov_deg) / 2
    t2 = theta * theta
    distorted = theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
    return math.hypot(width / 2, height / 2) / distorted


def camera_for(model: str, width: int, height: int, fov_deg: float) -> pycolmap.Camera:
    """A COLMAP camera of `model` (OPENCV_FISHEYE: `fov_deg` diagonal; PINHOLE, SIMPLE_RADIAL: horizontal)."""
    if model == "OPENCV_FISHEYE":
        f = fisheye_focal(width, height, fov_deg)
        params = [f, f, width / 2, height / 2, *FISHEYE_K]
    else:
        f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
        params = {"PINHOLE": [f, f, width / 2, height / 2], "SIMPLE_RADIAL": [f, width / 2, height / 2, -0.06]}[model]
    return pycolmap.Camera(model=model, width=width, height=height, params=params, camera_id=1)


def render_through(
    gt: dict[str, torch.Tensor], viewmat: np.ndarray, camera: pycolmap.Camera, sh_degree: int = 0
) -> np.ndarray:
    """(H, W, 3) uint8: the ground truth through the camera's lens (UT projection, 3D evaluation), drawn
    as the stage draws it (`footprint.with_floor`)."""
    K = torch.tensor(camera.calibration_matrix(), dtype=torch.float32)[None]
    with torch.no_grad():
        rgb, _, _ = with_floor(rasterization)(
            gt["means"], gt["quats"], gt["scales"], gt["opacities"], gt["colors"],
            torch.tensor(viewmat, dtype=torch.float32)[None], K, camera.width, camera.height, sh_degree=sh_degree,
            **camera_kwargs(from_colmap(camera.model.name, camera.params), "cpu"),
        )  # fmt: skip
    return (rgb[0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def make_lens_scene(
    root: Path,
    model: str = "OPENCV_FISHEYE",
    fov_deg: float = 160.0,
    n_cameras: int = 24,
    width: int = 96,
    height: int = 72,
) -> SyntheticScene:
    """Frames and a COLMAP model of the ball-in-a-room seen by `n_cameras` on a circle through `model`."""
    root = Path(root)
    frames, sparse = scene_folders(root)
    gt = ground_truth()
    camera = camera_for(model, width, height, fov_deg)
    reconstruction = pycolmap.Reconstruction()
    reconstruction.add_camera_with_trivial_rig(camera)
    names = []
    for i, (name, viewmat) in enumerate(circle_poses(n_cameras)):
        names.append(name)
        rgb = render_through(gt, viewmat, camera)
        cv2.imwrite(str(frames / "images" / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        image = pycolmap.Image(name=name, camera_id=1, image_id=i + 1)
        reconstruction.add_image_with_trivial_frame(image, pycolmap.Rigid3d(viewmat[:3, :4]))
    add_points(reconstruction, gt, 0, 0.01)
    reconstruction.write(str(sparse / "sparse" / "0"))
    return SyntheticScene(frames, sparse, None, names, width, height)
