"""Held-out quality by the NeRF-W protocol: appearance fitted on the left half of a photo, PSNR on the right.

Plain held-out PSNR cannot judge an appearance model: a held-out photo has its own exposure and white
balance, which no model can know from the training photos, so a perfect scene in the neutral
appearance still scores low. NeRF-W (Martin-Brualla et al. 2021) and Splatfacto-W therefore fit the
held-out image's appearance on its left half and score the right half only, so the appearance is
fitted on pixels that are never scored.

Here the appearance of a held-out view is what `appearance.py` learns per training image: a gain
and an offset per channel, fitted in closed form (least squares per channel, exact for this model
and free of step counts and learning rates) to the left half's valid pixels of the render, then
applied to the right half. Pixels the photo clipped (a channel at 0 or 255, common after a
change of exposure) say nothing about the transform and are left out of the fit, not of the score.
The same fit is applied to every model, so the number compares models
with and without appearance embeddings on equal terms.

Each view's row also says how far the photo's exposure is from the render's (`exposure_stops`: one gain
for all channels, least squares on the same left-half pixels, in stops). A model delivered in one
neutral appearance cannot know a held-out photo's auto-exposure, so its plain PSNR falls with these
numbers; a model that bakes each camera's exposure into view-dependent colour (splatfacto) shows
less on a video, where held-out frames sit between training frames (fox, 600 CPU steps: w-light's
held-out photos 0.09 stops off on average, up to 0.18, splatfacto's 0.04; one such gain per view lifts
w-light's plain PSNR by 2.7 dB, splatfacto's by nothing; docs/BENCHMARKS.md, session 9).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gs_stages.splat.backend import Renderer
from gs_stages.splat.evaluate import render_and_photo
from gs_stages.splat.metrics import psnr
from gs_stages.splat.model import Params
from gs_stages.splat.scene import View

PROTOCOL = (
    "NeRF-W: per-view gain and offset per channel fitted (least squares) on the left half, PSNR on the right half"
)


def fit_colour_transform(render: Tensor, photo: Tensor, pixels: Tensor) -> Tensor:
    """(2, 3): the gain (row 0) and offset (row 1) per channel that best take `render` to `photo` on
    `pixels` ((H, W) bool), by least squares."""
    x, y = render[pixels].double(), photo[pixels].double()  # (P, 3) each
    ones = torch.ones_like(x)
    design = torch.stack([x, ones], dim=-1).permute(1, 0, 2)  # (3, P, 2): one problem per channel
    solution = torch.linalg.lstsq(design, y.T[..., None]).solution[..., 0]  # (3, 2)
    return solution.T.float()


def exposure_stops(render: Tensor, photo: Tensor, pixels: Tensor) -> float:
    """log2 of the one gain (all channels) that best takes `render` to `photo` on `pixels`, by least squares."""
    x, y = render[pixels].double(), photo[pixels].double()
    gain = float((x * y).sum() / (x * x).sum().clamp_min(1e-12))
    return math.log2(gain) if gain > 0 else float("-inf")


def apply_colour_transform(render: Tensor, transform: Tensor) -> Tensor:
    return (render * transform[0] + transform[1]).clamp(0.0, 1.0)


@torch.no_grad()
def nerfw_evaluate(
    params: Params, views: list[View], renderer: Renderer, sh_degree: int, background: Tensor
) -> dict[str, Any]:
    """{"psnr_nerfw": mean over held-out views or None, "nerfw": {"protocol", "per_view"}} for metrics.json."""
    rows: list[dict[str, Any]] = []
    for view in views:
        render, photo, valid = render_and_photo(params, view, renderer, sh_degree, background)
        height, width = render.shape[:2]
        left = torch.zeros(height, width, dtype=torch.bool, device=render.device)
        left[:, : width // 2] = True
        usable = valid if valid is not None else torch.ones_like(left)
        unclipped = ((photo > 0.5 / 255) & (photo < 254.5 / 255)).all(dim=-1)
        fit_pixels, score_pixels = usable & left & unclipped, usable & ~left
        if int(fit_pixels.sum()) < 4 or not bool(score_pixels.any()):  # too few pixels to fit or score
            continue
        transform = fit_colour_transform(render, photo, fit_pixels)
        score = psnr(apply_colour_transform(render, transform), photo, score_pixels)
        stops = round(exposure_stops(render, photo, fit_pixels), 4)
        rows.append({"name": view.name, "psnr": score, "exposure_stops": stops})
    mean = sum(r["psnr"] for r in rows) / len(rows) if rows else None
    off = sum(abs(r["exposure_stops"]) for r in rows) / len(rows) if rows else None
    return {"psnr_nerfw": mean, "nerfw": {"protocol": PROTOCOL, "per_view": rows, "mean_abs_exposure_stops": off}}
