"""Held-out evaluation: render every held-out view and compare it with its photo.

Renders use the background colour splatfacto evaluates with (for "random" training backgrounds,
the viewer's grey-blue; else the fixed colour). When the run had masks, the photo's removed
background is replaced by that same colour, so a render scores well only if the background came
out transparent. Invalid pixels (undistortion could not fill them, or the masks stage asked to ignore
them) are left out of PSNR and copied from the photo for SSIM and LPIPS, which need whole images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from gs_stages.splat.backend import Renderer
from gs_stages.splat.lens import view_camera
from gs_stages.splat.lpips import LpipsMetric
from gs_stages.splat.metrics import psnr, ssim
from gs_stages.splat.model import Params, activated
from gs_stages.splat.presets import Preset
from gs_stages.splat.scene import View

#: nerfstudio's evaluation background for background_color="random" (viser's default colour).
RANDOM_EVAL_BACKGROUND = (0.1490, 0.1647, 0.2157)


@dataclass
class Evaluation:
    psnr: float | None
    ssim: float | None
    lpips: float | None
    per_view: list[dict[str, float | str]] = field(default_factory=list)
    pairs: list[tuple[Tensor, Tensor]] = field(default_factory=list)  # (photo, render) for the preview


def eval_background(preset: Preset, device: torch.device) -> Tensor:
    colour = {"random": RANDOM_EVAL_BACKGROUND, "black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0)}
    return torch.tensor(colour[preset.background_color], device=device)


@torch.no_grad()
def render_view(
    params: Params, view: View, renderer: Renderer, sh_degree: int, background: Tensor
) -> tuple[Tensor, Tensor]:
    """(rgb (H, W, 3) in [0, 1], alpha (H, W)) of one view."""
    device = params["means"].device
    renders, alphas, _ = renderer(
        **activated(params), sh_degree=sh_degree, backgrounds=background[None], **view_camera(view, device)
    )
    return renders[0].clamp(0.0, 1.0), alphas[0, ..., 0]


@torch.no_grad()
def render_and_photo(
    params: Params, view: View, renderer: Renderer, sh_degree: int, background: Tensor
) -> tuple[Tensor, Tensor, Tensor | None]:
    """(render, photo, valid pixels or None) of one held-out view, prepared as the docstring above says."""
    device = params["means"].device
    render, _ = render_view(params, view, renderer, sh_degree, background)
    photo = view.image.to(device).float() / 255.0
    if view.mask is not None:
        keep = view.mask.to(device).float()[..., None] / 255.0
        photo = photo * keep + background * (1 - keep)
    valid = view.valid.to(device) if view.valid is not None else None
    if valid is not None:
        render = torch.where(valid[..., None], render, photo)
    return render, photo, valid


@torch.no_grad()
def view_psnr(params: Params, view: View, renderer: Renderer, sh_degree: int, background: Tensor) -> float:
    """One view's PSNR, prepared as for evaluation (masks, valid pixels); cleanup's guard uses training views."""
    with torch.no_grad():
        render, photo, valid = render_and_photo(params, view, renderer, sh_degree, background)
    return psnr(render, photo, valid)


def evaluate(
    params: Params,
    views: list[View],
    renderer: Renderer,
    preset: Preset,
    sh_degree: int,
    lpips_model: LpipsMetric | None = None,
    keep_pairs: int = 4,
    background: Tensor | None = None,
) -> Evaluation:
    """Every held-out view over `background` (default: the preset's evaluation colour, `eval_background`)."""
    if not views:
        return Evaluation(None, None, None)
    background = eval_background(preset, params["means"].device) if background is None else background
    rows: list[dict[str, float | str]] = []
    pairs = []
    for view in views:
        render, photo, valid = render_and_photo(params, view, renderer, sh_degree, background)
        row: dict[str, float | str] = {
            "name": view.name,
            "psnr": psnr(render, photo, valid),
            "ssim": float(ssim(render, photo)),
        }
        if lpips_model is not None:
            row["lpips"] = float(lpips_model(render, photo))
        rows.append(row)
        if len(pairs) < keep_pairs:
            pairs.append((photo.cpu(), render.cpu()))

    def mean(key: str) -> float | None:
        values = [float(r[key]) for r in rows if key in r]
        return sum(values) / len(values) if values else None

    return Evaluation(mean("psnr"), mean("ssim"), mean("lpips"), rows, pairs)
