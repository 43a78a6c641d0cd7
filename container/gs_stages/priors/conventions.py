"""Camera-axis conventions of capture apps, and their conversion to COLMAP's world-to-camera pose.

A pose matrix says how a camera's own axes sit in the world. Apps disagree on what those axes mean:

    OpenCV / COLMAP   +X right, +Y down, +Z forward (the camera looks down +Z)
    OpenGL            +X right, +Y up,   +Z backward (the camera looks down -Z)
    ARKit, ARCore     same camera axes as OpenGL
    ROS (camera body) +X forward, +Y left, +Z up

COLMAP wants `cam_from_world` with OpenCV axes. The conversion is two steps a reader can check by eye:
invert the matrix if it is camera-to-world, then re-express the camera axes with a fixed rotation
`OPENCV_FROM_<convention>` (row i says which source axis becomes OpenCV axis i). The world frame is
kept as given: nothing downstream needs a particular world "up".
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Convention = Literal["arkit", "arcore", "opengl", "opencv", "ros"]

#: OpenCV axes are the target: nothing to change.
OPENCV_FROM_OPENCV = np.eye(3)

#: OpenGL camera: x right -> x right; y up -> y down (negate); z backward -> z forward (negate).
OPENCV_FROM_OPENGL = np.array(
    [
        [1.0, 0.0, 0.0],  # OpenCV x (right)   = +OpenGL x (right)
        [0.0, -1.0, 0.0],  # OpenCV y (down)    = -OpenGL y (up)
        [0.0, 0.0, -1.0],  # OpenCV z (forward) = -OpenGL z (backward)
    ]
)

#: ROS camera body: forward is +X, left is +Y, up is +Z.
OPENCV_FROM_ROS = np.array(
    [
        [0.0, -1.0, 0.0],  # OpenCV x (right)   = -ROS y (left)
        [0.0, 0.0, -1.0],  # OpenCV y (down)    = -ROS z (up)
        [1.0, 0.0, 0.0],  # OpenCV z (forward) = +ROS x (forward)
    ]
)

OPENCV_FROM_CONVENTION: dict[str, np.ndarray] = {
    "opencv": OPENCV_FROM_OPENCV,
    "opengl": OPENCV_FROM_OPENGL,
    "arkit": OPENCV_FROM_OPENGL,  # ARKit cameras look down -Z with +Y up, like OpenGL
    "arcore": OPENCV_FROM_OPENGL,  # ARCore cameras too
    "ros": OPENCV_FROM_ROS,
}

#: How far a rotation block may be from orthonormal before the matrix is refused (not a rigid pose).
_RIGID_TOLERANCE = 1e-3


class PoseMatrixError(ValueError):
    """The matrix is not a 4x4 rigid transform; the caller adds which frame it came from."""


def rigid_matrix(value: object) -> np.ndarray:
    """A 4x4 float matrix with an orthonormal, right-handed rotation; PoseMatrixError otherwise."""
    try:
        matrix = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise PoseMatrixError("transform_matrix is not a 4x4 matrix of numbers") from None
    if matrix.shape == (3, 4):
        matrix = np.vstack([matrix, [0.0, 0.0, 0.0, 1.0]])
    if matrix.shape != (4, 4):
        raise PoseMatrixError(f"transform_matrix has shape {matrix.shape}, expected 4x4")
    if not np.all(np.isfinite(matrix)):
        raise PoseMatrixError("transform_matrix holds NaN or infinite values")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0], atol=_RIGID_TOLERANCE):
        raise PoseMatrixError(f"transform_matrix's last row is {matrix[3].tolist()}, expected [0, 0, 0, 1]")
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=_RIGID_TOLERANCE) or np.linalg.det(rotation) < 0:
        raise PoseMatrixError("transform_matrix's 3x3 block is not a rotation (scaled, sheared or mirrored)")
    # Exports round rotations to ~7 digits; snap to the nearest rotation so inverses are exact.
    u, _, vt = np.linalg.svd(rotation)
    matrix = matrix.copy()
    matrix[:3, :3] = u @ vt
    return matrix


def invert_rigid(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform, exact (R^T, -R^T t) rather than a general matrix inverse."""
    rotation, translation = matrix[:3, :3], matrix[:3, 3]
    inverse = np.eye(4)
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ translation
    return inverse


def colmap_cam_from_world(matrix: np.ndarray, convention: Convention, pose_is_world_to_cam: bool) -> np.ndarray:
    """The 4x4 world-to-camera pose in OpenCV camera axes for a pose given in `convention`."""
    if convention not in OPENCV_FROM_CONVENTION:
        raise ValueError(f"unknown camera convention {convention!r}; expected one of {sorted(OPENCV_FROM_CONVENTION)}")
    matrix = rigid_matrix(matrix)
    # Step 1: world-to-camera, still in the source camera's axes.
    source_cam_from_world = matrix if pose_is_world_to_cam else invert_rigid(matrix)
    # Step 2: re-express the camera axes as OpenCV's (a rotation applied on the camera side only).
    axes = np.eye(4)
    axes[:3, :3] = OPENCV_FROM_CONVENTION[convention]
    return axes @ source_cam_from_world


def camera_centre(cam_from_world: np.ndarray) -> np.ndarray:
    """The camera's position in world coordinates: C = -R^T t."""
    return -cam_from_world[:3, :3].T @ cam_from_world[:3, 3]
