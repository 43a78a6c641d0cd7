"""What training minimises: the photometric loss of one rendered view, and the SSIM it is computed with.

Why apart from the loop (`train.py`): the loss is where masks, undistortion's blank pixels, transient
masking and MCMC's regularisers meet, and the SSIM choice depends on what builds on the machine; both
read on their own, without the loop's state handling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

from gs_stages.splat import robust, ssim_cpu
from gs_stages.splat.metrics import ssim_separable
from gs_stages.splat.model import Params
from gs_stages.splat.presets import Preset
from gs_stages.splat.scene import View
from gs_stages.stage import StageError

log = logging.getLogger("gs_stages.splat")

Ssim = Callable[[Tensor, Tensor], Tensor]


def training_loss(
    preset: Preset,
    render: Tensor,
    alpha: Tensor,
    view: View,
    step: int,
    ssim: Ssim,
    params: Params,
    scene_scale: float,
) -> Tensor:
    """(1 - lambda) L1 + lambda (1 - SSIM) on kept pixels, + alpha -> 0 on removed background."""
    photo = view.image.float() / 255.0
    keep = None if view.mask is None else view.mask.float() / 255.0
    if view.valid is not None:
        keep = view.valid.float() if keep is None else keep * view.valid.float()
    if preset.robust_mask_fraction > 0 and step >= preset.robust_mask_start:
        fraction, floor = preset.robust_mask_fraction, preset.robust_mask_floor
        robust_keep = robust.transient_mask(render, photo, keep, fraction, floor)
        keep = robust_keep if keep is None else keep * robust_keep
    if keep is not None:
        photo, render = photo * keep[..., None], render * keep[..., None]
    l1 = torch.abs(render - photo).mean()
    loss = (1 - preset.ssim_lambda) * l1 + preset.ssim_lambda * (1 - ssim(render, photo))
    if view.mask is not None and preset.mask_alpha_weight > 0:
        removed = 1.0 - view.mask.float() / 255.0
        if view.valid is not None:
            removed = removed * view.valid.float()
        if removed.sum() > 0:
            loss = loss + preset.mask_alpha_weight * (alpha * removed).sum() / removed.sum()
    if preset.strategy == "mcmc":
        loss = loss + preset.mcmc_opacity_reg * torch.sigmoid(params["opacities"]).mean()
        scales = torch.exp(params["scales"]).mean() / scene_scale
        loss = loss + preset.mcmc_scale_reg * scales
    return loss


def pick_ssim(name: str, device: torch.device) -> Callable[[Tensor, Tensor], Tensor]:
    """The SSIM of the D-SSIM loss (engine setting `ssim`): a fused kernel or `metrics.ssim_separable`.

    All compute SSIM with the same window and constants (11 px Gaussian, sigma 1.5) over the "valid" region:
    fused-ssim on CUDA in one kernel per direction, `ssim_cpu` compiled on a CPU, ours in PyTorch as two 1-D
    passes; the reported metric is torchmetrics' (`metrics.ssim`, mirrored border). "auto" takes the fused
    kernel of the device where it builds or imports, "torch" the PyTorch one.
    """
    if name == "torch":
        return ssim_separable
    if name == "auto" and device.type != "cuda":
        problem = ssim_cpu.import_error()
        if problem is None:
            return ssim_cpu.ssim
        log.warning("the compiled CPU SSIM is not available (%s); using the slower PyTorch one", problem)
        return ssim_separable
    try:
        from fused_ssim import fused_ssim
    except ImportError as exc:
        if name == "fused":
            raise StageError(f"ssim='fused' but fused_ssim does not import: {exc}") from exc
        return ssim_separable
    if device.type != "cuda":
        raise StageError("ssim='fused' needs a CUDA device", hint="use ssim=auto or torch")

    def fused(prediction: Tensor, target: Tensor) -> Tensor:
        x = prediction.permute(2, 0, 1)[None].float().contiguous()
        y = target.permute(2, 0, 1)[None].float().contiguous()
        return fused_ssim(x, y, padding="valid")

    return fused
