"""The D-SSIM loss's SSIM on a CPU through the compiled kernel `csrc/ssim_cpu.cpp`.

Why: through PyTorch (`metrics.ssim_separable`) it was a third of a CPU training step: ten grouped
convolutions forward and back and a dozen image-sized temporaries. The kernel computes the same value
(11 px Gaussian window, sigma 1.5, "valid" region, as fused-ssim on CUDA) and its analytic gradient;
tests/stages/test_ssim_cpu.py checks both against `ssim_separable` and autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gs_stages.splat import native

NAME = "ssim_cpu"
SIGMA = 1.5


class _Ssim(torch.autograd.Function):
    """Mean SSIM of planar (C, H, W) float32 images; the gradient flows to the first one only."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        with_grad = x.requires_grad
        out = native.load(NAME).forward(x, y, SIGMA, with_grad)
        count = x.shape[0] * (x.shape[1] - 10) * (x.shape[2] - 10)
        if with_grad:
            ctx.save_for_backward(x, y, *out[1:])
        ctx.count = count
        return (out[0] / count).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        x, y, d_mu, d_xx, d_xy = ctx.saved_tensors
        scale = float(grad) / ctx.count
        return native.load(NAME).backward(x, y, d_mu, d_xx, d_xy, SIGMA, scale), None


def ssim(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean SSIM of two (H, W, C) images over the valid region: `metrics.ssim_separable`, compiled."""
    x = prediction.float().permute(2, 0, 1).contiguous()
    y = target.detach().float().permute(2, 0, 1).contiguous()
    return _Ssim.apply(x, y)


def import_error() -> str | None:
    """None when the kernel builds and loads, else why not."""
    return native.import_error(NAME)
