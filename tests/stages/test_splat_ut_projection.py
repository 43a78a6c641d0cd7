"""3dgut's unscented projection against an independent reference, and its lens inversion.

Reference: 200,000 samples of each Gaussian pushed through COLMAP's own camera model
(`pycolmap.Camera.img_from_cam`, a separate implementation of the same lenses), their sample mean
and covariance. The unscented transform (alpha 0.1, as gsplat's) is exact for a linear map and
second-order accurate otherwise, so for Gaussians a few pixels to tens of pixels wide, the sizes
training deals with, it must agree closely with the samples even under a 160-degree fisheye and a
strong barrel distortion. Stated tolerance: the 2D mean within 0.05 px + 0.5 % of the footprint's
standard deviation, the covariance within 3 % (relative Frobenius error) after the 0.3 px^2 low-pass
filter both sides carry.
"""

from __future__ import annotations

import numpy as np
import pycolmap
import pytest
import torch

from gs_stages.splat.lens import camera_kwargs, from_colmap
from gs_stages.splat.render_torch import quats_to_rotmats
from gs_stages.splat.render_ut import cameras, pixel_rays, project_ut

from .lens_scenes import camera_for

EPS2D = 0.3
SAMPLES = 200_000


def _ut_cameras(camera: pycolmap.Camera):
    kwargs = camera_kwargs(from_colmap(camera.model.name, camera.params), "cpu")
    K = torch.tensor(camera.calibration_matrix(), dtype=torch.float64)[None]
    radial, tangential = kwargs.get("radial_coeffs"), kwargs.get("tangential_coeffs")
    return cameras(K, camera.width, camera.height, kwargs["camera_model"], radial, tangential)


def _gaussians(camera: pycolmap.Camera, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Gaussians in front of an identity camera, spread over the image (corners included), a few px to
    tens of px wide."""
    rng = np.random.default_rng(seed)
    rays = camera.cam_from_img(rng.uniform([0.05, 0.05], [0.95, 0.95], (n, 2)) * [camera.width, camera.height])
    depth = rng.uniform(2.0, 6.0, n)
    directions = np.concatenate([rays, np.ones((n, 1))], 1)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    means = directions * depth[:, None]
    scales = depth[:, None] * rng.uniform(0.004, 0.03, (n, 3))
    return {
        "means": torch.tensor(means),
        "quats": torch.tensor(rng.normal(size=(n, 4))),
        "scales": torch.tensor(scales),
        "opacities": torch.full((n,), 0.9, dtype=torch.float64),
    }


def _monte_carlo(camera: pycolmap.Camera, g: dict[str, torch.Tensor], i: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed + i)
    rot = quats_to_rotmats(g["quats"][i]).numpy()
    samples = g["means"][i].numpy() + (rng.standard_normal((SAMPLES, 3)) * g["scales"][i].numpy()) @ rot.T
    pixels = camera.img_from_cam(samples)
    return pixels.mean(0), np.cov(pixels.T) + EPS2D * np.eye(2)


@pytest.mark.parametrize(
    ("model", "fov"),
    [("OPENCV_FISHEYE", 160.0), ("SIMPLE_RADIAL", 90.0), ("PINHOLE", 90.0)],
)
def test_unscented_projection_matches_monte_carlo_through_the_lens(model: str, fov: float) -> None:
    camera = camera_for(model, 640, 480, fov)
    g = _gaussians(camera, 24, seed=3)
    proj = project_ut(g["means"], g["quats"], g["scales"], g["opacities"], torch.eye(4)[None].double(),
                      _ut_cameras(camera), eps2d=EPS2D)  # fmt: skip
    visible = (proj.radii[0] > 0).all(-1)
    assert int(visible.sum()) >= 20  # near the corners some sigma points may leave the margin
    for i in torch.nonzero(visible).flatten().tolist():
        mean, cov = _monte_carlo(camera, g, i, seed=11)
        a, b, c = proj.conics[0, i].tolist()
        ut_cov = np.linalg.inv(np.array([[a, b], [b, c]]))
        sigma = float(np.sqrt(np.trace(cov) / 2))
        assert np.linalg.norm(proj.means2d[0, i].numpy() - mean) < 0.05 + 0.005 * sigma, (model, i)
        assert np.linalg.norm(ut_cov - cov) / np.linalg.norm(cov) < 0.03, (model, i, ut_cov, cov)


@pytest.mark.parametrize(("model", "fov"), [("OPENCV_FISHEYE", 160.0), ("SIMPLE_RADIAL", 90.0)])
def test_pixel_rays_invert_the_lens(model: str, fov: float) -> None:
    camera = camera_for(model, 64, 48, fov)
    rays, valid = pixel_rays(_ut_cameras(camera)[0], torch.device("cpu"))
    assert bool(valid.all())
    u, v = np.meshgrid(np.arange(64) + 0.5, np.arange(48) + 0.5)
    back = camera.img_from_cam(rays.double().numpy())
    assert np.abs(back - np.stack([u.ravel(), v.ravel()], 1)).max() < 1e-3
