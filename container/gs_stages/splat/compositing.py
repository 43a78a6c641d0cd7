"""Compositing projected Gaussians into an image: the (pixel, Gaussian) pairs gsplat blends, then blending.

The second half of `render_torch.py`'s renderer (its docstring says why two passes and no tiles):
a no-grad pass finds the pairs, the differentiable pass blends only them front to back.
`render_cpu.py` does the same with a compiled kernel and takes its pixel boxes from here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from gs_stages.splat.projection import ALPHA_THRESHOLD, Projection

TILE_SIZE = 16  # gsplat's; reported in `info` only
MAX_ALPHA = 0.999
MIN_TRANSMITTANCE = 1e-4
#: Candidate (pixel, Gaussian) pairs tested at once in the no-grad pass; bounds its memory.
DEFAULT_CHUNK_PAIRS = 1 << 22
#: (visible-set indices, row-major pixels) -> (alpha, exponent): a 3D evaluation (`render_ut.WorldResponse`).
Response = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class Pairs:
    """The (pixel, Gaussian) pairs that gsplat blends: grouped by pixel, front to back within a pixel."""

    pixels: Tensor  # (M,) row-major pixel index
    gaussians: Tensor  # (M,) index into the visible set


@torch.no_grad()
def select_pairs(
    means2d: Tensor,
    radii: Tensor,
    conics: Tensor,
    opacities: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
    response: Response | None = None,
) -> Pairs:
    """Pass 1, no autograd: every pixel whose centre lies in a Gaussian's box, tested for alpha >= 1/255.

    Enumerating each Gaussian's own box instead of its 16x16 tiles finds the same pairs at a fraction
    of the cost: the box is the ellipse where alpha >= 1/255, rounded up, and pixels of a touched tile
    outside the box are exactly the ones gsplat skips. Gaussians go in chunks of about `chunk_pairs`
    candidate pixels. Pairs behind the point where a pixel turns opaque (transmittance <= 1e-4) are
    dropped here too, so the differentiable pass only sees what gsplat blends.

    With a `response` (3D evaluation, `render_ut.WorldResponse`) alpha is no longer bounded by the
    2D box, so every pixel of the 16x16 tiles the box touches is tested, as gsplat's kernel does.
    """
    device = means2d.device
    order = torch.argsort(depths, stable=True)  # front to back; the stable sort by pixel keeps it
    centre, half = means2d[order], radii[order].to(means2d.dtype)
    lo, hi = pixel_boxes(centre, half, width, height, whole_tiles=response is not None)
    span = (hi - lo).clamp_min(0)
    area = span[:, 0] * span[:, 1]
    first = torch.cumsum(area, 0) - area
    bounds = _chunk_bounds(area, chunk_pairs)
    pixels, gaussians, alphas = [], [], []
    for start, stop in itertools.pairwise(bounds):
        owner = start + torch.repeat_interleave(torch.arange(stop - start, device=device), area[start:stop])
        local = torch.arange(len(owner), device=device) + first[start] - first[owner]
        cols = span[owner, 0].clamp_min(1)
        x, y = lo[owner, 0] + local % cols, lo[owner, 1] + local // cols
        g = order[owner]
        if response is None:
            alpha, sigma = _alpha(means2d[g], conics[g], opacities[g], x, y)
        else:
            alpha, sigma = response(g, y * width + x)
        keep = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
        pixels.append((y * width + x)[keep])
        gaussians.append(g[keep])
        alphas.append(alpha[keep])
    if not pixels:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Pairs(empty, empty)
    pix, by_pixel = torch.sort(torch.cat(pixels), stable=True)
    gauss, alpha = torch.cat(gaussians)[by_pixel], torch.cat(alphas)[by_pixel]
    # gsplat stops *before* the Gaussian that would bring transmittance to <= 1e-4; T only falls,
    # so "transmittance after this Gaussian > 1e-4" selects exactly the Gaussians it blends.
    log_t_after = _log_transmittance(torch.log1p(-alpha.double()), pix, inclusive=True)
    alive = log_t_after > math.log(MIN_TRANSMITTANCE)
    return Pairs(pix[alive], gauss[alive])


def pixel_boxes(
    centre: Tensor, half: Tensor, width: int, height: int, whole_tiles: bool = False
) -> tuple[Tensor, Tensor]:
    """[lo, hi) pixel ranges (x, y) per Gaussian, clipped to the image: the pixels whose centres lie in its
    box (centre -+ half), or with `whole_tiles` every pixel of the 16x16 tiles the box touches (gsplat's
    tile range: floor and ceil of (mean -+ radius) / tile). The compiled rasterizer takes the same boxes."""
    size = torch.tensor([width, height], device=centre.device)
    if not whole_tiles:
        lo = torch.minimum(torch.ceil(centre - half - 0.5).clamp_min(0).long(), size)
        hi = torch.minimum((torch.floor(centre + half - 0.5) + 1).clamp_min(0).long(), size)
    else:
        lo = torch.minimum(torch.floor((centre - half) / TILE_SIZE).clamp_min(0).long() * TILE_SIZE, size)
        hi = torch.minimum(torch.ceil((centre + half) / TILE_SIZE).clamp_min(0).long() * TILE_SIZE, size)
    return lo, hi


def _chunk_bounds(area: Tensor, budget: int) -> list[int]:
    """Cut a list of Gaussians into runs of about `budget` candidate pixels (a huge one runs alone)."""
    ends = torch.cumsum(area, 0)
    total = int(ends[-1]) if len(ends) else 0
    marks = torch.arange(1, total // budget + 1, device=area.device) * budget
    return sorted({0, *torch.searchsorted(ends, marks, right=True).tolist(), len(area)})


def _alpha(mean: Tensor, conic: Tensor, opacity: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """alpha = min(0.999, o * exp(-sigma)) at pixel centres (x + 0.5, y + 0.5); both passes use it."""
    dx = mean[..., 0] - (x + 0.5)
    dy = mean[..., 1] - (y + 0.5)
    sigma = 0.5 * (conic[..., 0] * dx * dx + conic[..., 2] * dy * dy) + conic[..., 1] * dx * dy
    return torch.clamp_max(opacity * torch.exp(-sigma), MAX_ALPHA), sigma


def _log_transmittance(log_t: Tensor, pixels: Tensor, inclusive: bool) -> Tensor:
    """Per-pixel cumulative sum of log(1 - alpha) over a flat list grouped by pixel.

    One global cumulative sum minus its value at each pixel's first pair; callers pass float64 so the
    subtraction of two large running sums stays exact.
    """
    running = torch.cumsum(log_t, 0)
    _, per_pixel = torch.unique_consecutive(pixels, return_counts=True)
    first = torch.repeat_interleave(torch.cumsum(per_pixel, 0) - per_pixel, per_pixel)
    before_first = running.index_select(0, first) - log_t.index_select(0, first)
    return (running if inclusive else running - log_t) - before_first


def blend_pairs(
    pairs: Pairs,
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    n_pixels: int,
    width: int,
    absgrad: Tensor | None = None,
    visible: Tensor | None = None,
    response: Response | None = None,
) -> tuple[Tensor, Tensor]:
    """Pass 2, with autograd: front-to-back blending of the selected pairs; (rgb (P, 3), alpha (P,)).

    `absgrad` (N, 2), when given, is filled during backward, indexed through `visible`. With a
    `response` alpha comes from it (3D evaluation) and means2d gets no gradient, as in gsplat.
    """
    g = pairs.gaussians
    x, y = pairs.pixels % width, pairs.pixels // width
    # index_select, not x[g]: its backward (index_add) is deterministic on CPU, so two identical
    # runs, or a resumed and an uninterrupted one, stay bit-identical with several threads.
    mean = means2d.index_select(0, g)
    if absgrad is not None and mean.requires_grad:
        # AbsGS (gsplat's absgrad=True) wants the sum over pixels of |dL/dmean2d|; autograd only
        # sums the signed per-pixel terms, so take each pair's share on its way back.
        owner = visible[g] if visible is not None else g

        def record(grad: Tensor) -> None:
            absgrad.index_add_(0, owner, grad.abs().to(absgrad.dtype))

        mean.register_hook(record)
    if response is None:
        alpha, _ = _alpha(mean, conics.index_select(0, g), opacities.index_select(0, g), x, y)
    else:
        alpha, _ = response(g, pairs.pixels)
    log_before = _log_transmittance(torch.log1p(-alpha.double()), pairs.pixels, inclusive=False)
    weights = alpha * torch.exp(log_before).to(alpha.dtype)
    rgb = colors.new_zeros(n_pixels, colors.shape[-1]).index_add(
        0, pairs.pixels, weights[:, None] * colors.index_select(0, g)
    )
    acc = weights.new_zeros(n_pixels).index_add(0, pairs.pixels, weights)
    return rgb, acc


def rasterize_image(
    proj: Projection,
    camera: int,
    colors: Tensor,
    opacities: Tensor,
    width: int,
    height: int,
    background: Tensor | None,
    absgrad: Tensor | None = None,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
    response: Response | None = None,
) -> tuple[Tensor, Tensor]:
    """Composite one camera's visible Gaussians; returns rgb (H, W, 3) and alpha (H, W, 1).

    `colors` and `opacities` are indexed like the visible set `radii[camera] > 0`, in order;
    `absgrad`, when given, is this camera's (N, 2) row of the buffer that backward fills.
    """
    visible = torch.nonzero((proj.radii[camera] > 0).all(-1)).squeeze(-1)
    means2d, conics = proj.means2d[camera, visible], proj.conics[camera, visible]
    pairs = select_pairs(
        means2d.detach(),
        proj.radii[camera, visible],
        conics.detach(),
        opacities.detach(),
        proj.depths[camera, visible].detach(),
        width,
        height,
        chunk_pairs,
        response,
    )
    rgb, acc = blend_pairs(pairs, means2d, conics, opacities, colors, width * height, width, absgrad, visible, response)
    if background is not None:
        rgb = rgb + (1.0 - acc)[:, None] * background
    return rgb.reshape(height, width, -1), acc.reshape(height, width, 1)
