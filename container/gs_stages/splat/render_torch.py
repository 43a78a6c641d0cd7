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

The renderer's two halves live in `projection.py` (screen-space Gaussians, SH colour) and
`compositing.py` (pixel pairs, blending); this module puts them together as gsplat's `rasterization`
and re-exports their names, which callers, `render_ut.py` and the tests import from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from gs_stages.splat.compositing import (
    DEFAULT_CHUNK_PAIRS,
    MAX_ALPHA,
    MIN_TRANSMITTANCE,
    TILE_SIZE,
    Pairs,
    Response,
    blend_pairs,
    pixel_boxes,
    rasterize_image,
    select_pairs,
)
from gs_stages.splat.projection import (
    ALPHA_THRESHOLD,
    BOX_SIGMAS,
    Projection,
    covariances,
    project,
    quats_to_rotmats,
    sh_colors,
)

__all__ = [
    "ALPHA_THRESHOLD",
    "BOX_SIGMAS",
    "DEFAULT_CHUNK_PAIRS",
    "MAX_ALPHA",
    "MIN_TRANSMITTANCE",
    "TILE_SIZE",
    "Pairs",
    "Projection",
    "Response",
    "blend_pairs",
    "covariances",
    "pixel_boxes",
    "project",
    "quats_to_rotmats",
    "rasterization",
    "rasterize_image",
    "select_pairs",
    "sh_colors",
]


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
