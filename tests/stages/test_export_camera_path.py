"""The fly-through's camera path: it starts at the first capture camera, irons out hand-held jitter, and
follows the cameras around the object even when the photos' names are in no spatial order."""

from __future__ import annotations

import math

import numpy as np

from gs_stages.export.camera_path import output_size, smooth_path
from gs_stages.export.cameras import camera_entry
from tests.stages.splat_scenes import look_at


def orbit(count: int, jitter: float, names: list[int] | None = None, seed: int = 0) -> list[dict]:
    """Cameras on a 2 m circle looking at the origin, each centre shaken by `jitter` metres."""
    rng = np.random.default_rng(seed)
    K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    cameras = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        centre = np.array([2 * math.cos(angle), 2 * math.sin(angle), 0.3]) + rng.normal(0, jitter, 3)
        name = f"{(names[i] if names else i):04d}.jpg"
        cameras.append(camera_entry(name, look_at(centre, np.zeros(3)), K, 320, 240))
    return cameras


def centres(frames) -> np.ndarray:
    return np.array([np.linalg.inv(f.world_to_camera)[:3, 3] for f in frames])


def test_starts_at_the_first_camera_with_its_intrinsics_scaled():
    cameras = orbit(30, jitter=0.02)
    frames = smooth_path(cameras, 50, 160)
    assert len(frames) == 50 and (frames[0].width, frames[0].height) == (160, 120) == output_size(cameras[0], 160)
    np.testing.assert_allclose(frames[0].world_to_camera, cameras[0]["world_to_camera"], atol=1e-9)
    np.testing.assert_allclose(frames[0].K, [[150, 0, 80], [0, 150, 60], [0, 0, 1]])
    for f in frames:
        rotation = f.world_to_camera[:3, :3]
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)


def test_hand_held_jitter_is_smoothed():
    cameras = orbit(60, jitter=0.03)
    raw = np.array([np.linalg.inv(np.array(c["world_to_camera"]))[:3, 3] for c in cameras])
    path = centres(smooth_path(cameras, 60, 64))
    # Curvature of the path (second differences per step) against the shaken cameras'.
    raw_bend = np.linalg.norm(np.diff(raw, 2, axis=0), axis=1).mean()
    path_bend = np.linalg.norm(np.diff(path, 2, axis=0), axis=1).mean()
    assert path_bend < raw_bend / 3, (path_bend, raw_bend)
    assert np.abs(np.linalg.norm(path[:, :2], axis=1) - 2).max() < 0.15  # still on the orbit


def test_photos_named_in_no_order_are_toured_not_zigzagged():
    order = list(np.random.default_rng(1).permutation(24))
    cameras = orbit(24, jitter=0.0, names=order)
    path = centres(smooth_path(cameras, 200, 64))
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    assert length < 1.2 * 2 * math.pi * 2, length  # about once around; by name order it crosses the circle


def test_one_camera_gives_a_still_path():
    frames = smooth_path(orbit(1, jitter=0.0), 5, 64)
    assert len(frames) == 5 and all(np.array_equal(f.world_to_camera, frames[0].world_to_camera) for f in frames)
