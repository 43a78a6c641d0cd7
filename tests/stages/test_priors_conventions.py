"""Each capture convention on a known pose: a camera at C looking at P with a known 'up'.

The source matrices are built here from each convention's stated camera axes (independently of
the conversion code); after conversion to COLMAP, P must project to the image centre, 'up' to -v
(towards the top of the image) and 'right' to +u.
"""

from __future__ import annotations

import numpy as np
import pytest

from gs_stages.priors.conventions import PoseMatrixError, camera_centre, colmap_cam_from_world

CENTRE = np.array([2.0, -3.0, 1.5])
TARGET = np.array([0.5, 1.0, 0.2])
WORLD_UP = np.array([0.0, 0.0, 1.0])
K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])


def _camera_directions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    forward = (TARGET - CENTRE) / np.linalg.norm(TARGET - CENTRE)
    right = np.cross(forward, WORLD_UP)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return forward, right, up


def _camera_to_world(convention: str) -> np.ndarray:
    """Columns: where the camera's own x, y, z axes point in the world, as each convention defines them."""
    forward, right, up = _camera_directions()
    axes = {
        "opencv": (right, -up, forward),  # x right, y down, z forward
        "opengl": (right, up, -forward),  # x right, y up, looks down -z
        "arkit": (right, up, -forward),
        "arcore": (right, up, -forward),
        "ros": (forward, -right, up),  # x forward, y left, z up
    }[convention]
    matrix = np.eye(4)
    matrix[:3, :3] = np.column_stack(axes)
    matrix[:3, 3] = CENTRE
    return matrix


def _project(cam_from_world: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, float]:
    in_camera = cam_from_world[:3, :3] @ point + cam_from_world[:3, 3]
    pixel = K @ in_camera
    return pixel[:2] / pixel[2], float(in_camera[2])


CONVENTIONS = ["arkit", "arcore", "opengl", "opencv", "ros"]


@pytest.mark.parametrize("pose_is_world_to_cam", [False, True], ids=["cam-to-world", "world-to-cam"])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_known_pose_projects_target_to_centre_and_up_to_top(convention: str, pose_is_world_to_cam: bool) -> None:
    given = _camera_to_world(convention)
    if pose_is_world_to_cam:
        given = np.linalg.inv(given)
    cam_from_world = colmap_cam_from_world(given, convention, pose_is_world_to_cam)

    forward, right, up = _camera_directions()
    pixel, depth = _project(cam_from_world, TARGET)
    assert depth > 0, "the target must be in front of the camera"
    np.testing.assert_allclose(pixel, [320.0, 240.0], atol=1e-9)

    above, _ = _project(cam_from_world, CENTRE + forward + 0.1 * up)
    assert above[1] < 240.0 - 10 and abs(above[0] - 320.0) < 1e-6, "world 'up' must map to -v"
    to_the_right, _ = _project(cam_from_world, CENTRE + forward + 0.1 * right)
    assert to_the_right[0] > 320.0 + 10 and abs(to_the_right[1] - 240.0) < 1e-6, "'right' must map to +u"
    np.testing.assert_allclose(camera_centre(cam_from_world), CENTRE, atol=1e-12)
    np.testing.assert_allclose(cam_from_world[:3, :3] @ cam_from_world[:3, :3].T, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_camera_to_world_read_as_world_to_camera_gives_another_pose(convention: str) -> None:
    """The reference treated poseIsWorldToCam "false" as true; the flag must change the result."""
    camera_to_world = _camera_to_world(convention)
    right_way = colmap_cam_from_world(camera_to_world, convention, pose_is_world_to_cam=False)
    wrong_way = colmap_cam_from_world(camera_to_world, convention, pose_is_world_to_cam=True)
    assert not np.allclose(right_way, wrong_way)
    pixel, _ = _project(wrong_way, TARGET)
    assert np.linalg.norm(pixel - [320.0, 240.0]) > 50


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.eye(3), "shape"),
        (np.diag([2.0, 2.0, 2.0, 1.0]), "not a rotation"),
        (np.diag([1.0, 1.0, -1.0, 1.0]), "not a rotation"),
        (np.full((4, 4), np.nan), "NaN"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row"),
    ],
)
def test_a_matrix_that_is_not_a_rigid_pose_is_refused(matrix: object, message: str) -> None:
    with pytest.raises(PoseMatrixError, match=message):
        colmap_cam_from_world(matrix, "opengl", pose_is_world_to_cam=False)


def test_a_3x4_matrix_is_completed() -> None:
    given = _camera_to_world("opencv")
    np.testing.assert_allclose(
        colmap_cam_from_world(given[:3], "opencv", False), colmap_cam_from_world(given, "opencv", False)
    )
