"""3dgut's footprint floor (issue #12): without distortion, its 3D evaluation draws what EWA splatting draws.

The ball-in-a-room's Gaussians, shrunk to the size gsplat's MCMC start gives them (a tenth of their
spacing, well under a pixel at this resolution, as training may shrink any), rendered through a plain
pinhole by the renderer the stage picks: once by EWA splatting (splatfacto's path), once with the
unscented projection and the 3D evaluation (3dgut's). Without the floor the 3D evaluation covered a
fifteenth of what EWA covers (mean alpha 0.026 against 0.39) and the two images were 10.7 dB apart;
a 3dgut model then learned from almost empty renders.
"""

from __future__ import annotations

import math

import pytest
import torch

from gs_stages.splat.backend import pick_renderer
from gs_stages.splat.metrics import psnr
from gs_stages.splat.render_torch import rasterization

from .splat_scenes import circle_poses, ground_truth

WIDTH, HEIGHT = 64, 48


def _render(rasterize, scale: float, **lens):
    gt = ground_truth()
    focal = 0.5 * WIDTH / math.tan(math.radians(45))
    K = torch.tensor([[focal, 0, WIDTH / 2], [0, focal, HEIGHT / 2], [0, 0, 1.0]])[None]
    viewmat = torch.tensor(circle_poses(24)[3][1], dtype=torch.float32)[None]
    scales = (gt["scales"] * scale).requires_grad_()
    rgb, alpha, _ = rasterize(
        gt["means"], gt["quats"], scales, gt["opacities"], gt["colors"], viewmat, K, WIDTH, HEIGHT, sh_degree=0, **lens
    )
    return rgb[0], alpha[0, ..., 0], scales


UT = {"with_ut": True, "with_eval3d": True}


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_without_distortion_3dgut_draws_what_ewa_draws_however_small_the_gaussians(scale: float) -> None:
    _, rasterize = pick_renderer("torch", torch.device("cpu"))
    ewa, ewa_alpha, _ = _render(rasterize, scale)
    ut, ut_alpha, _ = _render(rasterize, scale, **UT)
    assert psnr(ut.detach().clamp(0, 1), ewa.detach().clamp(0, 1)) > 28.0
    assert abs(float(ut_alpha.detach().mean() - ewa_alpha.detach().mean())) < 0.06
    if scale < 1:  # the bare 3D evaluation (gsplat's, and render_torch's) misses what the floor restores
        _, bare_alpha, _ = _render(rasterization, scale, **UT)
        assert bare_alpha.mean() < 0.2 * ewa_alpha.mean()


def test_the_floor_keeps_the_scales_gradient_and_leaves_ewa_calls_alone() -> None:
    _, rasterize = pick_renderer("torch", torch.device("cpu"))
    rgb, _, scales = _render(rasterize, 0.1, **UT)
    rgb.sum().backward()
    assert scales.grad is not None and scales.grad.abs().sum() > 0
    plain, _, _ = _render(rasterize, 0.5)
    bare, _, _ = _render(rasterization, 0.5)
    assert torch.equal(plain, bare)
