"""A pure-PyTorch Gaussian splat renderer that computes the same image as gsplat 1.5.3's CUDA rasterizer.

Why it exists: CI machines and laptops have no GPU, yet the stage must train there, and the GPU path
needs a reference to be checked against (`bench/gpu_parity.py`). So this module follows gsplat's
`rasterization(..., packed=False, rasterize_mode="classic")` step by step rather than the paper:

* projection: 3D covariance R S S^T R^T from (normalised) quats and scales, EWA Jacobian of the
  pinhole projection with gsplat's clamp of x/z and y/z to 1.3x the field of view, +0.3 px^2 on the
  2D covariance diagonal (`eps2d`, the low-pass filter), near 0.01 / far 1e10 culling;
* bounding box: gsplat 1.5.3 uses 3.33 sigma per axis, shrunk for faint Gaussians to the distance
  where alpha falls under 1/255 (its "opacity-aware" box), and drops Gaussians with opacity < 1/255;
* pixels: gsplat tests a Gaussian against every pixel of each 16x16 tile its box touches; with
  opacity <= 1 the box is the (rounded-up) ellipse where alpha >= 1/255, so every pixel outside it
  is skipped there anyway. Here each Gaussian is tested against the pixels in its own box only: same
  pairs, a fraction of the work, and no tiles;
* compositing: front to back by camera depth, alpha = min(0.999, o * exp(-0.5 d^T conic d)), a
  Gaussian with alpha < 1/255 is skipped, a pixel stops before the Gaussian that would bring its
  transmittance to <= 1e-4, then `colour + T * background`;
* colour: real spherical harmonics of the direction from the camera centre to the mean, +0.5, then
  clamped at 0 from below (gsplat's "apple-to-apple with Inria" rule).

Gradients come from autograd (no hand-written backward), which keeps the file readable and makes
`torch.autograd.gradcheck` applicable. Rendering runs in two passes: a no-grad pass tests candidate
(pixel, Gaussian) pairs in chunks (bounding its memory) and keeps those gsplat would blend, then the
differentiable pass recomputes alpha and blends only those, so the autograd graph holds a few
tensors the size of the kept pairs. The returned `info` carries what densification needs (means2d
with its gradient, radii, width/height, n_cameras, and `means2d.absgrad` when `absgrad=True`), in
gsplat's layout.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gs_stages.gaussians import SH_C0, SH_C1, SH_C2, SH_C3

TILE_SIZE = 16  # gsplat's; reported in `info` only
ALPHA_THRESHOLD = 1.0 / 255.0
MAX_ALPHA = 0.999
MIN_TRANSMITTANCE = 1e-4
BOX_SIGMAS = 3.33  # gsplat 1.5.3 `extend`
#: Candidate (pixel, Gaussian) pairs tested at once in the no-grad pass; bounds its memory.
DEFAULT_CHUNK_PAIRS = 1 << 22
#: (visible-set indices, row-major pixels) -> (alpha, exponent): a 3D evaluation (`render_ut.WorldResponse`).
Response = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class Projection:
    """Per camera and Gaussian screen-space quantities, shaped like gsplat's unpacked outputs."""

    means2d: Tensor  # (C, N, 2) pixel coordinates, pixel centres at +0.5
    conics: Tensor  # (C, N, 3) upper triangle (a, b, c) of the inverse 2D covariance
    depths: Tensor  # (C, N) camera z
    radii: Tensor  # (C, N, 2) int32 box half-size in pixels; 0 = not visible


def quats_to_rotmats(quats: Tensor) -> Tensor:
    """Rotation matrices (N, 3, 3) from wxyz quaternions of any norm."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape((*quats.shape[:-1], 3, 3))


def covariances(quats: Tensor, scales: Tensor) -> Tensor:
    """World-space covariances (N, 3, 3) = R S S^T R^T, scales already exponentiated."""
    m = quats_to_rotmats(quats) * scales[..., None, :]
    return _matmul(m, m.transpose(-1, -2))


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """Batched product of tiny matrices as broadcast multiply-and-sum: on CPU, far faster than bmm."""
    return (a[..., :, :, None] * b[..., None, :, :]).sum(-2)


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
) -> Projection:
    """EWA splatting of N Gaussians into C pinhole cameras (gsplat's `fully_fused_projection`)."""
    rot, trans = viewmats[:, :3, :3], viewmats[:, :3, 3]
    means_c = torch.einsum("cij,nj->cni", rot, means) + trans[:, None, :]  # (C, N, 3)
    covars_c = _matmul(_matmul(rot[:, None], covariances(quats, scales)[None]), rot[:, None].transpose(-1, -2))
    x, y, z = means_c.unbind(-1)
    in_depth = (z >= near_plane) & (z <= far_plane)
    # Culled Gaussians still flow through autograd with zero upstream gradient; a finite z keeps
    # 0 * inf from turning their gradients into NaN.
    z = torch.where(in_depth, z, torch.ones_like(z))

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # The Jacobian is evaluated with x/z, y/z clamped to 1.3x the image's field of view: Gaussians
    # far outside the frustum would otherwise get huge, unstable footprints.
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    tx = z * torch.clamp(x / z, min=-(cx / fx + 0.3 * tan_fovx), max=(width - cx) / fx + 0.3 * tan_fovx)
    ty = z * torch.clamp(y / z, min=-(cy / fy + 0.3 * tan_fovy), max=(height - cy) / fy + 0.3 * tan_fovy)
    zeros = torch.zeros_like(z)
    jac = torch.stack([fx / z, zeros, -fx * tx / z**2, zeros, fy / z, -fy * ty / z**2], -1).unflatten(-1, (2, 3))
    cov2d = _matmul(_matmul(jac, covars_c), jac.transpose(-1, -2))
    a = cov2d[..., 0, 0] + eps2d
    b = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    c = cov2d[..., 1, 1] + eps2d
    det = a * c - b * b
    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], dim=-1)
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)

    with torch.no_grad():
        opac = opacities.detach().expand_as(z)
        extend = torch.sqrt(2.0 * torch.log(opac.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
        extend = extend.clamp(max=BOX_SIGMAS)
        radius = torch.stack([torch.ceil(extend * a.sqrt()), torch.ceil(extend * c.sqrt())], dim=-1)
        mx, my = means2d[..., 0], means2d[..., 1]
        rx, ry = radius[..., 0], radius[..., 1]
        visible = (
            in_depth
            & (det > 0)
            & (opac >= ALPHA_THRESHOLD)
            & ((rx > radius_clip) | (ry > radius_clip))
            & (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        )  # fmt: skip
        radii = torch.where(visible[..., None], radius, torch.zeros_like(radius)).to(torch.int32)
    return Projection(means2d=means2d, conics=conics, depths=means_c[..., 2], radii=radii)


def sh_colors(degree: int, dirs: Tensor, sh: Tensor) -> Tensor:
    """Evaluate real SH of `degree` (0..3) at view directions (M, 3) with coefficients (M, K, 3)."""
    result = SH_C0 * sh[:, 0]
    if degree < 1:
        return result
    x, y, z = F.normalize(dirs, dim=-1).unbind(-1)
    x, y, z = x[:, None], y[:, None], z[:, None]
    result = result + SH_C1 * (-y * sh[:, 1] + z * sh[:, 2] - x * sh[:, 3])
    if degree < 2:
        return result
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    result = result + (
        SH_C2[0] * xy * sh[:, 4]
        + SH_C2[1] * yz * sh[:, 5]
        + SH_C2[2] * (2.0 * zz - xx - yy) * sh[:, 6]
        + SH_C2[3] * xz * sh[:, 7]
        + SH_C2[4] * (xx - yy) * sh[:, 8]
    )
    if degree < 3:
        return result
    return result + (
        SH_C3[0] * y * (3.0 * xx - yy) * sh[:, 9]
        + SH_C3[1] * xy * z * sh[:, 10]
        + SH_C3[2] * y * (4.0 * zz - xx - yy) * sh[:, 11]
        + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * sh[:, 12]
        + SH_C3[4] * x * (4.0 * zz - xx - yy) * sh[:, 13]
        + SH_C3[5] * z * (xx - yy) * sh[:, 14]
        + SH_C3[6] * x * (xx - 3.0 * yy) * sh[:, 15]
    )


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
    size = torch.tensor([width, height], device=device)
    if response is None:
        lo = torch.minimum(torch.ceil(centre - half - 0.5).clamp_min(0).long(), size)
        hi = torch.minimum((torch.floor(centre + half - 0.5) + 1).clamp_min(0).long(), size)
    else:  # gsplat's tile range: floor and ceil of (mean -+ radius) / tile, in whole tiles
        lo = torch.minimum(torch.floor((centre - half) / TILE_SIZE).clamp_min(0).long() * TILE_SIZE, size)
        hi = torch.minimum(torch.ceil((centre + half) / TILE_SIZE).clamp_min(0).long() * TILE_SIZE, size)
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


def rasterization(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmats: Tensor,
    Ks: Tensor,
    width: int,
    height: int,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,
    absgrad: bool = False,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
    camera_model: str = "pinhole",
    radial_coeffs: Tensor | None = None,
    tangential_coeffs: Tensor | None = None,
    with_ut: bool = False,
    with_eval3d: bool = False,
    rasterize: Callable[..., tuple[Tensor, Tensor]] | None = None,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Render C cameras; same arguments and outputs as `gsplat.rasterization(packed=False)`.

    `with_ut` / `with_eval3d` with `camera_model`, `radial_coeffs`, `tangential_coeffs`: 3DGUT's
    projection and 3D evaluation through a distorted lens (`render_ut.py`), as gsplat's same arguments.
    `rasterize` composites one camera (`rasterize_image`'s arguments up to `absgrad`); render_cpu passes
    its compiled one, the default is this module's. The 3D evaluation (`with_eval3d`) always composites
    here: the compiled one evaluates 2D footprints only.

    `scales` are exponentiated, `opacities` sigmoid-ed (N,), `colors` SH coefficients (N, K, 3)
    when `sh_degree` is given, else RGB (N, 3). Returns renders (C, H, W, 3), alphas (C, H, W, 1)
    and info with means2d (C, N, 2), radii (C, N, 2), depths, conics, width, height, n_cameras.
    """
    from gs_stages.splat import render_ut  # it builds on this module

    if (radial_coeffs is not None or tangential_coeffs is not None or camera_model != "pinhole") and not with_ut:
        raise ValueError("lens distortion and fisheye cameras need with_ut=True (as in gsplat)")
    cams = render_ut.cameras(Ks, width, height, camera_model, radial_coeffs, tangential_coeffs) if with_ut else []
    if with_ut:
        proj = render_ut.project_ut(
            means, quats, scales, opacities, viewmats, cams, eps2d, near_plane, far_plane, radius_clip
        )
    else:
        proj = project(
            means, quats, scales, opacities, viewmats, Ks, width, height, eps2d, near_plane, far_plane, radius_clip
        )
    n_cameras = viewmats.shape[0]
    absgrad_buffer = means.new_zeros(n_cameras, means.shape[0], 2) if absgrad else None
    campos = torch.linalg.inv(viewmats)[:, :3, 3]
    renders, alphas = [], []
    for cam in range(n_cameras):
        visible = (proj.radii[cam] > 0).all(-1)
        if sh_degree is None:
            rgb = colors[visible]
        else:
            rgb = sh_colors(sh_degree, means[visible] - campos[cam], colors[visible])
            rgb = torch.clamp_min(rgb + 0.5, 0.0)
        background = backgrounds[cam] if backgrounds is not None else None
        response = None
        if with_eval3d:
            camera = cams[cam] if with_ut else render_ut.cameras(Ks[cam, None], width, height, "pinhole", None, None)[0]
            response = render_ut.camera_response(camera, viewmats[cam], means, quats, scales, opacities, visible)
        composite = (
            functools.partial(rasterize_image, chunk_pairs=chunk_pairs, response=response)
            if rasterize is None or response is not None
            else rasterize
        )
        image, alpha = composite(
            proj,
            cam,
            rgb,
            opacities[visible],
            width,
            height,
            background,
            absgrad_buffer[cam] if absgrad_buffer is not None else None,
        )
        renders.append(image)
        alphas.append(alpha)
    info: dict[str, Any] = {
        "means2d": proj.means2d,
        "radii": proj.radii,
        "depths": proj.depths,
        "conics": proj.conics,
        "opacities": opacities.expand(n_cameras, -1),
        "gaussian_ids": None,
        "width": width,
        "height": height,
        "tile_size": TILE_SIZE,
        "n_cameras": n_cameras,
        "n_batches": 1,
    }
    if absgrad_buffer is not None:
        proj.means2d.absgrad = absgrad_buffer  # type: ignore[attr-defined]  # gsplat's convention
    return torch.stack(renders), torch.stack(alphas), info
