"""A smooth camera path through the capture cameras, for the fly-through video.

Hand-held captures jitter and photo sets come in any order, so the path is not the cameras themselves:
the cameras are chained into a tour (nearest neighbour from the first by name, which for a video is
its capture order), up to `MAX_KEYS` of them are picked evenly along it, and a cubic spline through
their centres (parameterised by distance travelled, so the speed is even) with a rotation spline
through their orientations (scipy's `RotationSpline`: smooth angular velocity, no slerp corners)
gives one pose per frame. The path starts exactly at the first camera of the tour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Key poses the spline passes through: enough to follow the capture, few enough to iron out jitter.
MAX_KEYS = 12


@dataclass(frozen=True)
class PathFrame:
    world_to_camera: np.ndarray  # (4, 4), OpenCV camera axes as cameras.json
    K: np.ndarray  # (3, 3) for the output size
    width: int
    height: int


def _tour(centres: np.ndarray) -> list[int]:
    """Indices of a nearest-neighbour chain through the centres, from index 0."""
    left = list(range(1, len(centres)))
    order = [0]
    while left:
        here = centres[order[-1]]
        nearest = min(left, key=lambda i: float(np.sum((centres[i] - here) ** 2)))
        order.append(nearest)
        left.remove(nearest)
    return order


def output_size(camera: dict[str, Any], long_side: int) -> tuple[int, int]:
    """The camera's aspect at `long_side` pixels, both sides even (what H.264's 4:2:0 needs)."""
    w, h = int(camera["width"]), int(camera["height"])
    scale = long_side / max(w, h)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def scaled_intrinsics(camera: dict[str, Any], width: int, height: int) -> np.ndarray:
    sx, sy = width / float(camera["width"]), height / float(camera["height"])
    return np.array(
        [[camera["fx"] * sx, 0, camera["cx"] * sx], [0, camera["fy"] * sy, camera["cy"] * sy], [0, 0, 1]],
        dtype=np.float64,
    )


def smooth_path(cameras: list[dict[str, Any]], n_frames: int, long_side: int) -> list[PathFrame]:
    """`n_frames` poses along a smooth path through `cameras` (cameras.json entries), rendered at the
    first camera's aspect and intrinsics scaled to `long_side` pixels."""
    from scipy.interpolate import CubicSpline
    from scipy.spatial.transform import Rotation, RotationSpline

    if not cameras:
        raise ValueError("no capture cameras: the fly-through needs at least one")
    cameras = sorted(cameras, key=lambda c: c["name"])
    w2c = np.array([c["world_to_camera"] for c in cameras], dtype=np.float64)
    c2w = np.linalg.inv(w2c)
    order = _tour(c2w[:, :3, 3])
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, min(MAX_KEYS, len(order)))).astype(int))
    keys = c2w[[order[i] for i in picks]]
    width, height = output_size(cameras[0], long_side)
    K = scaled_intrinsics(cameras[0], width, height)
    if len(keys) == 1:
        return [PathFrame(np.linalg.inv(keys[0]), K, width, height)] * n_frames
    steps = np.linalg.norm(np.diff(keys[:, :3, 3], axis=0), axis=1)
    angles = (Rotation.from_matrix(keys[1:, :3, :3]) * Rotation.from_matrix(keys[:-1, :3, :3]).inv()).magnitude()
    scene = max(float(np.ptp(keys[:, :3, 3], axis=0).max()), 1e-9)
    # Distance travelled, with turning counted too (a camera that only rotates still moves along the path).
    knots = np.concatenate([[0.0], np.cumsum(steps + angles * scene * 0.1 + 1e-9)])
    times = np.linspace(0.0, knots[-1], n_frames)
    centres = CubicSpline(knots, keys[:, :3, 3], bc_type="natural")(times)
    rotations = RotationSpline(knots, Rotation.from_matrix(keys[:, :3, :3]))(times).as_matrix()
    frames = []
    for centre, rotation in zip(centres, rotations, strict=True):
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rotation, centre
        frames.append(PathFrame(np.linalg.inv(pose), K, width, height))
    return frames
