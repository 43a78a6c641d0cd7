"""Image quality and resource metrics: PSNR, SSIM, LPIPS (when its weights are on disk), peak memory.

SSIM is torchmetrics' (`structural_similarity_index_measure`, differentiable, so the D-SSIM loss uses
it too): Gaussian window 11 px, sigma 1.5, K1 = 0.01, K2 = 0.03, at every pixel of the image mirrored
at its border, averaged over pixels and channels: gsplat's examples measure with the same function, so
numbers are theirs. On CUDA the training loss uses the fused-ssim kernel instead (splat/train.py
`pick_ssim`, padding "valid": only where the window fits, as the 3DGS reference does; it differs from
the mirrored border in the last decimals, the loss only).

LPIPS needs pretrained network weights that cannot be fetched at run time. With the engine setting
`lpips_weights` pointing at them it is computed with the AlexNet backbone and the v0.1 linear heads
(what `lpips.LPIPS(net="alex")` and torchmetrics' default use, inputs in [0, 1] mapped to [-1, 1]);
otherwise it is reported absent, with the reason.
"""

from __future__ import annotations

import math
import re
import resource
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.image import structural_similarity_index_measure

from gs_stages import s3_files


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


class LPIPS(nn.Module):
    """LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018): distance between deep features."""

    CHANNELS = (64, 192, 384, 256, 256)
    CONV_INDEX = (0, 3, 6, 8, 10)  # positions of the convolutions in torchvision's alexnet.features

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(3, 64, 11, stride=4, padding=2),
                nn.Conv2d(64, 192, 5, padding=2),
                nn.Conv2d(192, 384, 3, padding=1),
                nn.Conv2d(384, 256, 3, padding=1),
                nn.Conv2d(256, 256, 3, padding=1),
            ]
        )
        self.heads = nn.ModuleList([nn.Conv2d(c, 1, 1, bias=False) for c in self.CHANNELS])

    def features(self, x: Tensor) -> list[Tensor]:
        taps = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):  # max-pool before the 2nd and 3rd convolution, as in AlexNet
                x = F.max_pool2d(x, 3, stride=2)
            x = F.relu(conv(x))
            taps.append(x)
        return taps

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Distance of two (H, W, 3) images in [0, 1]."""

        def prepare(image: Tensor) -> Tensor:
            return ((image.permute(2, 0, 1)[None].float() * 2 - 1) - self.shift) / self.scale

        total = prediction.new_zeros(())
        for head, a, b in zip(
            self.heads, self.features(prepare(prediction)), self.features(prepare(target)), strict=True
        ):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + head((a - b) ** 2).mean()
        return total

    @classmethod
    def load(cls, path: str | Path, device: torch.device) -> LPIPS:
        """Weights from one state-dict file, or every *.pth/*.pt in a folder merged.

        Accepted key names: the `lpips` package's (`net.slice1.0.weight`, `lin0.model.1.weight`),
        torchvision's AlexNet (`features.0.weight`) and torchmetrics' heads (`lin0.model.1.weight`).
        """
        path = Path(path)
        files = sorted([*path.glob("*.pth"), *path.glob("*.pt")]) if path.is_dir() else [path]
        raw: dict[str, Tensor] = {}
        for file in files:
            raw.update(torch.load(file, map_location="cpu", weights_only=True))
        model = cls()
        state: dict[str, Tensor] = {}
        for key, value in raw.items():
            conv = re.fullmatch(r"(?:net\.slice\d\.|features\.)(\d+)\.(weight|bias)", key)
            head = re.fullmatch(r"lin(\d)\.model\.1\.weight", key)
            if conv and int(conv[1]) in cls.CONV_INDEX:
                state[f"convs.{cls.CONV_INDEX.index(int(conv[1]))}.{conv[2]}"] = value
            elif head:
                state[f"heads.{head[1]}.weight"] = value
        missing = sorted(set(model.state_dict()) - {"shift", "scale"} - set(state))
        if missing:
            raise ValueError(f"LPIPS weights in {path} lack {', '.join(missing)}")
        model.load_state_dict(state, strict=False)
        return model.to(device).eval().requires_grad_(False)


def load_lpips(path: str | None, device: torch.device) -> tuple[LPIPS | None, str | None]:
    """(model, None), or (None, why LPIPS is absent). `path`: a file or folder, or an s3:// key (a file)
    or prefix ending in "/" (a folder), downloaded to a temporary folder first."""
    if not path:
        return None, "no LPIPS weights configured (engine setting lpips_weights)"
    if path.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="lpips-") as scratch:
            try:
                if path.endswith("/"):  # a folder of weight files
                    local = Path(scratch) if s3_files.download_prefix(path, Path(scratch)) else None
                else:
                    local = s3_files.download(path, Path(scratch) / Path(s3_files.split_uri(path)[1]).name)
            except s3_files.S3FileError as exc:
                return None, f"LPIPS weights not downloadable from {path}: {exc}"
            if local is None:
                return None, f"LPIPS weights not found at {path}"
            return load_lpips(str(local), device)
    if not Path(path).exists():
        return None, f"LPIPS weights not found at {path}"
    try:
        return LPIPS.load(path, device), None
    except (ValueError, RuntimeError, OSError) as exc:
        return None, f"LPIPS weights at {path} unusable: {exc}"


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
