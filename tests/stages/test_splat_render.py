"""The PyTorch rasterizer: analytic footprint, gsplat's compositing rules, autograd, and `info`."""

from __future__ import annotations

import math

import pytest
import torch

from gs_stages.splat.render_torch import ALPHA_THRESHOLD, project, rasterization, sh_colors

K = torch.tensor([[[50.0, 0.0, 16.0], [0.0, 50.0, 12.0], [0.0, 0.0, 1.0]]])
IDENTITY = torch.eye(4)[None]


def _z_rotation(degrees: float) -> torch.Tensor:
    half = math.radians(degrees) / 2
    return torch.tensor([[math.cos(half), 0.0, 0.0, math.sin(half)]])


@pytest.mark.parametrize("degrees", [0.0, 30.0])
def test_single_gaussian_footprint_is_the_analytic_2d_gaussian(degrees: float) -> None:
    """On the optical axis the EWA covariance is (f/z)^2 R S^2 R^T + 0.3 I, centred on the principal point."""
    scales = torch.tensor([[0.10, 0.05, 0.08]])
    opacity, z, f = 0.8, 4.0, 50.0
    colour = torch.tensor([[0.9, 0.2, 0.4]])
    background = torch.tensor([[0.1, 0.3, 0.5]])
    rgb, alpha, _ = rasterization(
        torch.tensor([[0.0, 0.0, z]]),
        _z_rotation(degrees),
        scales,
        torch.tensor([opacity]),
        colour,
        IDENTITY,
        K,
        32,
        24,
        backgrounds=background,
    )
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    rotation = torch.tensor([[c, -s], [s, c]])
    cov = (f / z) ** 2 * rotation @ torch.diag(scales[0, :2] ** 2) @ rotation.T + 0.3 * torch.eye(2)
    ys, xs = torch.meshgrid(torch.arange(24) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    d = torch.stack([xs - 16.0, ys - 12.0], dim=-1)
    expected = opacity * torch.exp(-0.5 * torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov), d))
    expected = torch.where(expected >= ALPHA_THRESHOLD, expected, torch.zeros_like(expected))
    assert torch.allclose(alpha[0, ..., 0], expected, atol=1e-6)
    assert alpha.max() == alpha[0, 11:13, 15:17].max() > 0.5  # the peak is around the projected mean
    blended = expected[..., None] * colour + (1 - expected[..., None]) * background
    assert torch.allclose(rgb[0], blended, atol=1e-6)


def _reference_render(means, quats, scales, opacities, sh, viewmat, Ks, width, height, degree, background):
    """gsplat's rules, one pixel at a time: 16 px tiles, depth order, 1/255 skip, stop at T <= 1e-4."""
    proj = project(means, quats, scales, opacities, viewmat, Ks, width, height)
    campos = torch.linalg.inv(viewmat)[0, :3, 3]
    colours = torch.clamp_min(sh_colors(degree, means - campos, sh) + 0.5, 0.0)
    order = torch.argsort(proj.depths[0]).tolist()
    image = torch.zeros(height, width, 3)
    for y in range(height):
        for x in range(width):
            transmittance, pixel = 1.0, torch.zeros(3)
            for g in order:
                radius = proj.radii[0, g].float()
                if (radius == 0).any():
                    continue
                mean = proj.means2d[0, g]
                lo = torch.floor((mean - radius) / 16).clamp_min(0)
                hi = torch.ceil((mean + radius) / 16)
                if not (lo[0] <= x // 16 < hi[0] and lo[1] <= y // 16 < hi[1]):
                    continue  # the Gaussian's tiles do not include this pixel's tile
                dx, dy = mean[0] - (x + 0.5), mean[1] - (y + 0.5)
                a, b, c = proj.conics[0, g]
                sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                alpha = min(0.999, float(opacities[g] * torch.exp(-sigma)))
                if sigma < 0 or alpha < 1 / 255:
                    continue
                if transmittance * (1 - alpha) <= 1e-4:
                    break
                pixel += colours[g] * alpha * transmittance
                transmittance *= 1 - alpha
            image[y, x] = pixel + transmittance * background
    return image


def test_compositing_follows_gsplat_rules_pixel_by_pixel() -> None:
    torch.manual_seed(0)
    n = 40
    means = torch.randn(n, 3) * torch.tensor([0.6, 0.4, 0.5]) + torch.tensor([0.0, 0.0, 3.0])
    quats, scales = torch.randn(n, 4), torch.rand(n, 3) * 0.2 + 0.02
    opacities = torch.rand(n) * 0.98 + 0.01
    opacities[:5] = 1.0  # opaque ones exercise the early stop
    sh = torch.randn(n, 16, 3) * 0.3
    background = torch.tensor([0.2, 0.3, 0.4])
    rgb, _, _ = rasterization(
        means, quats, scales, opacities, sh, IDENTITY, K, 32, 24, sh_degree=3, backgrounds=background[None]
    )
    expected = _reference_render(means, quats, scales, opacities, sh, IDENTITY, K, 32, 24, 3, background)
    assert (rgb[0] - expected).abs().max() < 1e-5


def test_gradients_match_finite_differences_in_float64() -> None:
    torch.manual_seed(1)
    means = (torch.tensor([[0.0, 0.0, 3.0], [0.2, -0.1, 3.4], [-0.25, 0.1, 2.8]], dtype=torch.float64)).requires_grad_()
    log_scales = torch.log(torch.tensor([[0.15, 0.1, 0.12], [0.1, 0.2, 0.1], [0.08, 0.12, 0.1]], dtype=torch.float64))
    log_scales.requires_grad_()
    quats = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    logits = torch.tensor([0.2, -0.3, 0.5], dtype=torch.float64, requires_grad=True)
    sh = torch.randn(3, 16, 3, dtype=torch.float64) * 0.1
    sh[:, 0] = 0.5
    sh.requires_grad_()
    Ks = torch.tensor([[[12.0, 0.0, 6.0], [0.0, 12.0, 5.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)

    def render(means, log_scales, quats, logits, sh):
        rgb, alpha, _ = rasterization(
            means,
            quats,
            torch.exp(log_scales),
            torch.sigmoid(logits),
            sh,
            IDENTITY.double(),
            Ks,
            12,
            10,
            sh_degree=3,
            backgrounds=torch.tensor([[0.3, 0.6, 0.1]], dtype=torch.float64),
        )
        return torch.cat([rgb.flatten(), alpha.flatten()])

    assert torch.autograd.gradcheck(render, (means, log_scales, quats, logits, sh), eps=1e-6, atol=1e-6)


def test_info_carries_what_densification_needs() -> None:
    torch.manual_seed(2)
    n = 30
    means = (torch.randn(n, 3) * 0.5 + torch.tensor([0.0, 0.0, 3.0])).requires_grad_()
    quats, scales = torch.randn(n, 4), torch.rand(n, 3) * 0.1 + 0.02
    colours = torch.rand(n, 3)
    viewmats = torch.stack([torch.eye(4), torch.eye(4)])
    viewmats[1, 0, 3] = 0.3  # a second camera, shifted
    rgb, alpha, info = rasterization(
        means,
        quats,
        scales,
        torch.full((n,), 0.7),
        colours,
        viewmats,
        K.expand(2, 3, 3),
        32,
        24,
        absgrad=True,
    )
    info["means2d"].retain_grad()
    rgb.square().sum().backward()
    grad, absgrad = info["means2d"].grad, info["means2d"].absgrad
    assert rgb.shape == (2, 24, 32, 3) and alpha.shape == (2, 24, 32, 1)
    assert grad.shape == absgrad.shape == (2, n, 2) and info["radii"].shape == (2, n, 2)
    assert info["n_cameras"] == 2 and (info["width"], info["height"]) == (32, 24)
    visible = (info["radii"] > 0).all(-1)
    assert visible.any() and (grad[~visible] == 0).all()
    assert (absgrad >= grad.abs() - 1e-7).all() and (absgrad[visible] > 0).any()
    single, _, _ = rasterization(means.detach(), quats, scales, torch.full((n,), 0.7), colours, viewmats[1:], K, 32, 24)
    assert torch.allclose(single[0], rgb[1].detach(), atol=1e-6)
