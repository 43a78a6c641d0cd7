"""Undistortion of a COLMAP view into a pinhole camera, the only camera both rasterizers model.

Why its own module: the scene loader (`scene.py`) only needs "this photo as a pinhole camera sees it";
how that camera is chosen (engine setting `undistort`, `scene.py`'s docstring says what each value
means) and how pixels, masks and validity are resampled into it is one job, with OpenCV's and COLMAP's
conventions to reconcile.
"""

from __future__ import annotations

import cv2
import numpy as np
import pycolmap


def pinhole_for(camera: pycolmap.Camera, undistort: str = "crop") -> pycolmap.Camera:
    """The pinhole camera a distorted `camera` is undistorted into: for "crop" the cropped OpenCV camera where
    OpenCV expresses the model; otherwise, and for "colmap", the one COLMAP's own undistorter picks."""
    pinhole = cropped_pinhole(camera) if undistort == "crop" else None
    if pinhole is None:
        pinhole = pycolmap.undistort_camera(pycolmap.UndistortCameraOptions(), camera)
    return pinhole


#: OpenCV's distortion vector (k1, k2, p1, p2[, k3, k4, k5, k6]) for the COLMAP models that have one,
#: from COLMAP's parameter order (focal(s), principal point, then these).
_OPENCV_DISTORTION = {
    "SIMPLE_RADIAL": lambda p: [p[3], 0.0, 0.0, 0.0],
    "RADIAL": lambda p: [p[3], p[4], 0.0, 0.0],
    "OPENCV": lambda p: list(p[4:8]),
    "FULL_OPENCV": lambda p: list(p[4:12]),
}


def cropped_pinhole(camera: pycolmap.Camera) -> pycolmap.Camera | None:
    """The pinhole camera of nerfstudio's and gsplat's loaders: OpenCV's optimal new camera matrix with
    alpha=0 (only valid pixels), cropped to its valid region; None for models OpenCV cannot express.

    COLMAP puts pixel centres at +0.5, OpenCV at integers: the principal point moves by half a pixel
    into OpenCV's convention and back, so the crop is exact (the peers skip this sub-pixel step).
    """
    distortion = _OPENCV_DISTORTION.get(camera.model.name)
    if distortion is None:
        return None
    K = camera.calibration_matrix().astype(np.float64)
    K[:2, 2] -= 0.5
    new_K, (x, y, w, h) = cv2.getOptimalNewCameraMatrix(
        K, np.array(distortion(camera.params), np.float64), (camera.width, camera.height), 0
    )
    if w <= 0 or h <= 0:
        return None
    new_K[0, 2] += 0.5 - x
    new_K[1, 2] += 0.5 - y
    return pycolmap.Camera(
        model="PINHOLE",
        width=int(w),
        height=int(h),
        params=[new_K[0, 0], new_K[1, 1], new_K[0, 2], new_K[1, 2]],
    )


def undistort_image(
    camera: pycolmap.Camera,
    pinhole: pycolmap.Camera,
    pixels: np.ndarray,
    mask: np.ndarray | None,
    usable: np.ndarray | None = None,
) -> tuple[pycolmap.Camera, np.ndarray, np.ndarray | None, np.ndarray]:
    """Resample an image (and mask) from `camera` into the distortion-free `pinhole` camera; a pixel is
    valid where it comes wholly from inside the image and from `usable` pixels (255) when given."""
    u, v = np.meshgrid(np.arange(pinhole.width) + 0.5, np.arange(pinhole.height) + 0.5)
    rays = pinhole.cam_from_img(np.stack([u.ravel(), v.ravel()], axis=1))
    source = camera.img_from_cam(np.concatenate([rays, np.ones((len(rays), 1))], axis=1)) - 0.5
    map_x = source[:, 0].reshape(u.shape).astype(np.float32)
    map_y = source[:, 1].reshape(u.shape).astype(np.float32)

    def remap(image: np.ndarray, interpolation: int) -> np.ndarray:
        return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    base = usable if usable is not None else np.full(pixels.shape[:2], 255, np.uint8)
    valid = remap(base, cv2.INTER_LINEAR) == 255
    undistorted_mask = remap(mask, cv2.INTER_LINEAR) if mask is not None else None
    return pinhole, remap(pixels, cv2.INTER_LINEAR), undistorted_mask, valid
