"""SSIM from maintained libraries: torchmetrics on CPU (evaluation and the D-SSIM loss), fused-ssim on CUDA
(the training loss), checked against values computed independently of both."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch

from gs_stages.splat.metrics import ssim, ssim_separable
from gs_stages.splat.train import pick_ssim

C1, C2 = 0.01**2, 0.03**2


def _reference_ssim(x: np.ndarray, y: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """Wang et al. (2004) SSIM written out window by window (Gaussian 11 px, sigma 1.5) at every pixel of the
    image mirrored at its border (torchmetrics' and gsplat's convention), averaged over pixels and channels."""
    pad = (size - 1) // 2
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    y = np.pad(y, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    offsets = np.arange(size) - (size - 1) / 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for c in range(x.shape[2]):
        for i in range(x.shape[0] - size + 1):
            for j in range(x.shape[1] - size + 1):
                a, b = x[i : i + size, j : j + size, c], y[i : i + size, j : j + size, c]
                mu_a, mu_b = (w * a).sum(), (w * b).sum()
                var_a, var_b = (w * a * a).sum() - mu_a**2, (w * b * b).sum() - mu_b**2
                cov = (w * a * b).sum() - mu_a * mu_b
                values.append(
                    ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a**2 + mu_b**2 + C1) * (var_a + var_b + C2))
                )
    return float(np.mean(values))


def test_ssim_of_flat_images_is_the_luminance_term() -> None:
    """Two flat images: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) exactly."""
    a, b = 0.5, 0.25
    value = ssim(torch.full((32, 40, 3), a), torch.full((32, 40, 3), b)).item()
    assert value == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), abs=1e-6)


def test_ssim_matches_the_formula_written_out_and_is_differentiable() -> None:
    generator = torch.Generator().manual_seed(7)
    target = torch.rand((24, 28, 3), generator=generator)
    noisy = (target + 0.1 * torch.randn((24, 28, 3), generator=generator)).clamp(0, 1)
    reference = _reference_ssim(noisy.double().numpy(), target.double().numpy())
    assert 0.3 < reference < 0.95  # a pair that is neither equal nor unrelated
    prediction = noisy.clone().requires_grad_(True)
    value = ssim(prediction, target)
    assert value.item() == pytest.approx(reference, abs=1e-5)
    assert ssim(target, target).item() == pytest.approx(1.0, abs=1e-6)
    (1 - value).backward()  # the D-SSIM loss
    assert prediction.grad is not None and math.isfinite(prediction.grad.abs().sum().item())


def test_on_cuda_the_loss_takes_fused_ssim_with_the_valid_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path without a GPU: a stand-in `fused_ssim` module records how the loss calls it (NCHW,
    contiguous, padding="valid": the kernel averages where its window fits, as the 3DGS reference does)."""
    calls: list[tuple[tuple[int, ...], bool, str]] = []

    def fused_ssim(x: torch.Tensor, y: torch.Tensor, padding: str = "same") -> torch.Tensor:
        calls.append((tuple(x.shape), x.is_contiguous() and y.is_contiguous(), padding))
        return ssim(x[0].permute(1, 2, 0), y[0].permute(1, 2, 0))

    monkeypatch.setitem(sys.modules, "fused_ssim", types.SimpleNamespace(fused_ssim=fused_ssim))
    cuda = torch.device("cuda")
    for setting in ("auto", "fused"):
        loss_ssim = pick_ssim(setting, cuda)
        assert loss_ssim is not ssim
        image = torch.rand((20, 30, 3))
        assert loss_ssim(image, image).item() == pytest.approx(1.0, abs=1e-6)
    assert calls == [((1, 3, 20, 30), True, "valid")] * 2
    assert pick_ssim("torch", cuda) is ssim_separable
