"""Rendering check of rotateSplat: the rotated splat seen from the rotated camera is the same image.

Uses the project's own rasterizer (`gs_stages.splat.render_torch`, gsplat's `rasterization` API), so
this is the end-to-end proof that positions, orientations and view-dependent colour (SH degree 3)
were rotated in the convention the renderer evaluates.
"""

from __future__ import annotations

import numpy as np
import torch

from gs_stages.export.rotate import rotate_gaussians, viewer_rotation
from gs_stages.gaussians import Gaussians

from .export_splats import random_gaussians
from .splat_scenes import render_gaussians

WIDTH, HEIGHT = 96, 64
K = np.array([[80.0, 0.0, WIDTH / 2], [0.0, 80.0, HEIGHT / 2], [0.0, 0.0, 1.0]])


def render(g: Gaussians, world_to_camera: np.ndarray) -> np.ndarray:
    """One float64 render (H, W, 3) of `g` as trained values (log scales, logits, SH degree 3)."""
    return render_gaussians(g, world_to_camera, K, WIDTH, HEIGHT, torch.float64)[0].numpy()


def test_rotated_splat_from_rotated_camera_renders_the_same_image():
    rng = np.random.default_rng(11)
    g = random_gaussians(400, 3, seed=11, extent=0.6)
    g.scales[:] = np.log(rng.uniform(0.03, 0.12, size=g.scales.shape)).astype(np.float32)
    g.sh[:, 1:] *= 2.5  # strong view dependence, so wrongly rotated SH shows
    # Camera 4 units in front of the cloud looking at it from an oblique direction.
    angle = 0.4
    c, s = np.cos(angle), np.sin(angle)
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = [[c, 0, -s], [0, 1, 0], [s, 0, c]]
    world_to_camera[:3, 3] = [0.1, -0.2, 4.0]

    rotation = viewer_rotation() @ np.array([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    rotated = rotate_gaussians(g, rotation)
    undo = np.eye(4)
    undo[:3, :3] = rotation.T  # the rotated world seen by the same camera: W' = W · diag(Rᵀ, 1)

    original = render(g, world_to_camera)
    assert original.max() > 0.3, "the camera must see the splat"
    np.testing.assert_allclose(render(rotated, world_to_camera @ undo), original, atol=1e-5)

    # A rotation that leaves SH alone (the reference system's defect) renders visibly different colour.
    naive = Gaussians(rotated.means, rotated.scales, rotated.quats, rotated.opacities, g.sh)
    assert np.abs(render(naive, world_to_camera @ undo) - original).max() > 0.05
