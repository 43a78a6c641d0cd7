"""Image quality and resource metrics: PSNR, SSIM, peak memory.

SSIM is torchmetrics' (`structural_similarity_index_measure`, differentiable, so the D-SSIM loss uses
it too): Gaussian window 11 px, sigma 1.5, K1 = 0.01, K2 = 0.03, at every pixel of the image mirrored
at its border, averaged over pixels and channels: gsplat's examples measure with the same function, so
numbers are theirs. On CUDA the training loss uses the fused-ssim kernel instead (splat/train.py
`pick_ssim`, padding "valid": only where the window fits, as the 3DGS reference does; it differs from
the mirrored border in the last decimals, the loss only).

LPIPS is torchmetrics' too, with weights from the `lpips_weights` engine setting (`lpips.py`).
"""

from __future__ import annotations

import math
import resource

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure


def psnr(prediction: Tensor, target: Tensor, valid: Tensor | None = None) -> float:
    """Peak signal-to-noise ratio in dB for (H, W, C) images in [0, 1], over the `valid` (H, W) pixels."""
    squared = (prediction.float() - target.float()) ** 2
    mse = (squared[valid] if valid is not None else squared).mean().item()
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def ssim(prediction: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of two (H, W, C) images in [0, 1] (torchmetrics); differentiable (the D-SSIM loss uses it)."""
    x = prediction.permute(2, 0, 1)[None].float()
    y = target.permute(2, 0, 1)[None].float()
    return structural_similarity_index_measure(x, y, data_range=1.0, kernel_size=window, sigma=sigma)


def _gaussian_taps(size: int, sigma: float, device: torch.device) -> Tensor:
    x = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_separable(prediction: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM over the "valid" region, as fused-ssim computes it on CUDA: the D-SSIM loss on a CPU.

    The 2D Gaussian window is separable, so the five local means are one horizontal and one vertical
    11-tap pass over the five maps stacked as channels: the same sums as the 11x11 window, at a
    fraction of the work (on a CPU it was most of a training step).
    """
    x = prediction.permute(2, 0, 1)[None].float()
    y = target.permute(2, 0, 1)[None].float()
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    channels = stack.shape[1]
    taps = _gaussian_taps(window, sigma, x.device)
    rows = taps.view(1, 1, 1, window).expand(channels, 1, 1, window).contiguous()
    cols = taps.view(1, 1, window, 1).expand(channels, 1, window, 1).contiguous()
    blurred = F.conv2d(F.conv2d(stack, rows, groups=channels), cols, groups=channels)
    mu_x, mu_y, xx, yy, xy = blurred.chunk(5, dim=1)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> tuple[int, str]:
    """(bytes, what was measured): CUDA max allocated on a GPU, else the process's peak RSS.

    The RSS peak is the whole process's since it started (Linux reports it in KiB).
    """
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process_peak_rss"
