"""The CPU D-SSIM loss's separable SSIM equals SSIM with the full 11x11 window (pytorch_msssim's definition)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gs_stages.splat.metrics import ssim_separable as ssim


def _ssim_full_window(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The textbook form: five depthwise convolutions with the 2D window, float64."""
    x, y = x.permute(2, 0, 1)[None].double(), y.permute(2, 0, 1)[None].double()
    t = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(t**2) / (2 * 1.5**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(3, 1, 11, 11)
    blur = lambda t: F.conv2d(t, kernel, groups=3)  # noqa: E731
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))).mean()


def test_separable_ssim_matches_the_full_window_in_value_and_gradient() -> None:
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(37, 53, 3, generator=generator)
    prediction = (target + 0.2 * torch.randn(37, 53, 3, generator=generator)).clamp(0, 1)
    fast = prediction.clone().requires_grad_()
    exact = prediction.double().clone().requires_grad_()
    value, expected = ssim(fast, target), _ssim_full_window(exact, target)
    value.backward()
    expected.backward()
    assert 0.2 < expected.item() < 0.9
    assert abs(value.item() - expected.item()) < 1e-6
    assert torch.allclose(fast.grad.double(), exact.grad, atol=1e-6 * float(exact.grad.abs().max()) + 1e-12)
    assert float(ssim(target, target)) > 0.9999
