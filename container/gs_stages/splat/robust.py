"""Robustness to transients for `splatfacto-w-light`: pixels a passer-by, a car or a flag covers are left out.

Photo collections contain things that are in one photo only. A plain L1 + D-SSIM loss makes the
Gaussians explain them too, as floaters in front of the cameras that spoil every other view.
Splatfacto-W (after NeRF-W and RobustNeRF) masks the pixels whose error is among the largest of the
image; ours keeps that idea in its simplest form:
* the error is taken between the render and the photo each averaged over 5x5 pixels (L1 over the
  channels, after the image's appearance transform, so an exposure change is not taken for a
  transient): an occluder is a blob that changes the local mean colour, while texture the model has
  not resolved yet (rendered blurred) keeps it. Averaging the per-pixel error instead (session 7)
  kept that texture's error: on fox, a clean capture of fine wallpaper, the mask took the detailed
  regions out of every view, so they were never learned (600 CPU steps: NeRF-W PSNR 26.08 dB with the
  mask, 28.20 without, splatfacto 27.23; docs/BENCHMARKS.md, issue #12);
* the pixels above the image's (1 - `fraction`) quantile of that smoothed error, and above an
  absolute `floor` (so a photo without transients loses almost nothing), are left out of the loss;
* only after `start` steps: early on every pixel is wrong and nothing could be told apart.
The mask is recomputed every step from the current render, never stored: a pixel wrongly masked
comes back as soon as the scene explains it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SMOOTHING = 5


@torch.no_grad()
def transient_mask(render: Tensor, photo: Tensor, keep: Tensor | None, fraction: float, floor: float) -> Tensor:
    """(H, W) float, 1 where the loss may look and 0 on suspected transients; `keep` (H, W) or None."""
    smooth = (_local_mean(render) - _local_mean(photo)).abs().mean(-1)
    pool = smooth[keep > 0] if keep is not None else smooth.flatten()
    if pool.numel() == 0:
        return torch.ones_like(smooth)
    threshold = max(float(torch.quantile(pool.float(), 1.0 - fraction)), floor)
    return (smooth <= threshold).to(render.dtype)


def _local_mean(image: Tensor) -> Tensor:
    """(H, W, C) -> the mean over each pixel's SMOOTHING x SMOOTHING neighbourhood (inside the image)."""
    channels_first = image.permute(2, 0, 1)[None]
    pooled = F.avg_pool2d(channels_first, SMOOTHING, stride=1, padding=SMOOTHING // 2, count_include_pad=False)
    return pooled[0].permute(1, 2, 0)
