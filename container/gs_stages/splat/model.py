"""The Gaussians being trained: raw parameters, one Adam per parameter, and conversion to `Gaussians`.

Parameters are stored as optimised (gsplat's names): `means` (N, 3), `scales` log (N, 3), `quats`
unnormalised wxyz (N, 4), `opacities` logit (N,), `sh0` (N, 1, 3) and `shN` (N, K-1, 3). One optimizer
per parameter is what densification expects: it replaces a parameter and carries its Adam moments
along (`densify.py`), and gsplat's strategies check exactly this layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from gs_stages.gaussians import Gaussians, rgb_to_sh_dc
from gs_stages.splat.presets import Preset

Params = dict[str, torch.nn.Parameter]
PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


def init_params(
    points: np.ndarray, colors: np.ndarray, preset: Preset, generator: torch.Generator, device: torch.device
) -> Params:
    """Gaussians at the SfM points, as splatfacto starts them.

    Colour from the point colour (SH DC, higher bands 0), isotropic scale = mean distance to the 3
    nearest other points (times `init_scale`), a uniformly random rotation, opacity `init_opacity`.
    """
    means = torch.tensor(points, dtype=torch.float32, device=device)  # a copy: training moves it
    n = len(means)
    scale = (nearest_neighbour_distance(means, k=3) * preset.init_scale).clamp_min(1e-7)
    rgb = torch.as_tensor(colors, dtype=torch.float32, device=device) / 255.0
    sh = torch.zeros(n, (preset.sh_degree + 1) ** 2, 3, device=device)
    sh[:, 0] = torch.as_tensor(rgb_to_sh_dc(rgb.cpu().numpy()), device=device)
    params = {
        "means": means,
        "scales": torch.log(scale)[:, None].repeat(1, 3),
        "quats": random_quats(n, generator).to(device),
        "opacities": torch.full((n,), math.log(preset.init_opacity / (1 - preset.init_opacity)), device=device),
        "sh0": sh[:, :1],
        "shN": sh[:, 1:],
    }
    return {name: torch.nn.Parameter(value.contiguous()) for name, value in params.items()}


def nearest_neighbour_distance(points: Tensor, k: int = 3, block_elements: int = 1 << 26) -> Tensor:
    """Mean Euclidean distance from each point to its k nearest others (brute force, in chunks).

    O(N^2) work but no extra dependency; SfM clouds are at most a few 100k points, seconds on a GPU.
    Each chunk's distance block holds about `block_elements` floats.
    """
    out = torch.empty(len(points), device=points.device)
    k = min(k, len(points) - 1)
    if k < 1:
        return out.fill_(1.0)
    chunk = max(64, block_elements // len(points))
    for start in range(0, len(points), chunk):
        block = torch.cdist(points[start : start + chunk], points)
        nearest = torch.topk(block, k + 1, dim=1, largest=False).values[:, 1:]  # drop the point itself
        out[start : start + chunk] = nearest.mean(dim=1)
    return out


def random_quats(n: int, generator: torch.Generator) -> Tensor:
    """Uniformly distributed rotations (Shoemake's method), wxyz."""
    u, v, w = torch.rand(3, n, generator=generator, device=generator.device)
    return torch.stack(
        [
            torch.sqrt(1 - u) * torch.sin(2 * math.pi * v),
            torch.sqrt(1 - u) * torch.cos(2 * math.pi * v),
            torch.sqrt(u) * torch.sin(2 * math.pi * w),
            torch.sqrt(u) * torch.cos(2 * math.pi * w),
        ],
        dim=-1,
    )


def learning_rates(preset: Preset, scene_scale: float) -> dict[str, float]:
    """Initial learning rate per parameter; the means' one is in scene units (see presets.py)."""
    return {
        "means": preset.lr_means * scene_scale,
        "scales": preset.lr_scales,
        "quats": preset.lr_quats,
        "opacities": preset.lr_opacities,
        "sh0": preset.lr_features_dc,
        "shN": preset.lr_features_rest,
    }


def means_lr(preset: Preset, scene_scale: float, step: int, max_steps: int) -> float:
    """nerfstudio's ExponentialDecayScheduler without warm-up: log-linear from lr to lr_final.

    The horizon is the preset's `lr_means_max_steps`, or this run's `max_steps` when that is 0 (gsplat's
    simple_trainer decays over its run, so a short run ends with the means settled)."""
    horizon = preset.lr_means_max_steps or max_steps
    t = min(step / horizon, 1.0)
    return scene_scale * math.exp((1 - t) * math.log(preset.lr_means) + t * math.log(preset.lr_means_final))


def make_optimizers(
    params: Params, preset: Preset, scene_scale: float, kind: str = "adam"
) -> dict[str, torch.optim.Adam]:
    """One Adam per parameter. kind="selective_adam": gsplat's SelectiveAdam (an Adam subclass with the
    same state keys, so densification and checkpoints treat it alike); its step() takes visibility.
    kind="fused_adam": torch's single-kernel Adam, the same update as "adam" (multi-tensor, several
    kernels per step); with one big tensor per optimizer the kernel count is what costs at 1 M Gaussians."""
    rates = learning_rates(preset, scene_scale)
    if kind == "selective_adam":
        from gsplat.optimizers import SelectiveAdam

        return {
            name: SelectiveAdam([{"params": [param], "lr": rates[name]}], eps=preset.adam_eps, betas=(0.9, 0.999))
            for name, param in params.items()
        }
    return {
        name: torch.optim.Adam([param], lr=rates[name], eps=preset.adam_eps, fused=kind == "fused_adam")
        for name, param in params.items()
    }


def activated(params: Params) -> dict[str, Tensor]:
    """What the rasterizers take: exp scales, sigmoid opacities, SH stacked (N, K, 3)."""
    return {
        "means": params["means"],
        "quats": params["quats"],
        "scales": torch.exp(params["scales"]),
        "opacities": torch.sigmoid(params["opacities"]),
        "colors": torch.cat([params["sh0"], params["shN"]], dim=1),
    }


def to_gaussians(params: Params) -> Gaussians:
    """The exchange type: log scales, logit opacities, unit wxyz quats, SH (N, K, 3) DC first."""
    with torch.no_grad():
        quats = torch.nn.functional.normalize(params["quats"], dim=-1)
        sh = torch.cat([params["sh0"], params["shN"]], dim=1)

        def numpy(t: Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy()

        return Gaussians(
            means=numpy(params["means"]),
            scales=numpy(params["scales"]),
            quats=numpy(quats),
            opacities=numpy(params["opacities"]),
            sh=numpy(sh),
        )
