"""The pixel-footprint floor of 3dgut's 3D evaluation: the low-pass filter that EWA splatting gets from eps2d.

EWA splatting (`render_torch.project`, gsplat's classic mode, every .ply viewer) adds eps2d = 0.3 px^2 to
each projected covariance, so no Gaussian is drawn narrower than about half a pixel. The 3D evaluation
(`with_eval3d`, `render_ut.WorldResponse`, gsplat's) has no such term: a pixel sees a Gaussian only if its
ray passes within the Gaussian's own width. A Gaussian narrower than a pixel is then missed by most
rays: it is nearly invisible, and the few pixels it touches are all the gradient it gets. 3dgut started
from gsplat's MCMC Gaussians (a tenth of the SfM point spacing), so at the resolutions a CPU trains at,
the first renders were almost empty and training crawled (issue #12: 17.5 dB after 300 steps on the
synthetic fisheye, 27.8 with this floor; with no distortion the bare 3D evaluation matched EWA with
eps2d = 0 to 73 dB, and EWA with its 0.3 px^2 only to 10.7 dB, 28.8 with the floor).

The same floor in 3D: each Gaussian grows by an isotropic variance of eps2d pixel footprints squared,
one pixel footprint being the width a pixel covers at the Gaussian's distance: depth / f through a
pinhole lens (exact across the ray at any angle, a little generous along it off-axis), distance / f
through the equidistant fisheye (one pixel is 1/f radian at every angle). An isotropic variance keeps
the rotation, so it is a change of scales alone, s' = sqrt(s^2 + eps2d footprint^2), and both 3D
evaluations (`render_ut`'s and gsplat's) take it unchanged. Opacity is not compensated, as eps2d is
not in classic mode: what the trainer optimises is what a viewer's EWA splatting shows of the export.

`with_floor` applies it around whichever rasterizer `backend.pick_renderer` picks, to every call with
`with_eval3d=True` (training, evaluation, previews), so the rasterizers themselves stay gsplat's exact
counterparts (`bench/gpu_parity.py` compares them bare).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

#: gsplat's default eps2d, which the rasterizers use when a call names none.
EPS2D = 0.3
#: `rasterization`'s leading positional parameters (the same for every backend).
_POSITIONAL = ("means", "quats", "scales", "opacities", "colors", "viewmats", "Ks", "width", "height")


def floor_variance(means: Tensor, viewmats: Tensor, focals: Tensor, fisheye: bool, eps2d: float) -> Tensor:
    """(C, N) variance, in squared scene units, that puts eps2d px^2 under each Gaussian in each camera;
    `focals` (C,) in pixels (the geometric mean of fx and fy)."""
    with torch.no_grad():  # a property of the camera, as eps2d is: no gradient to the means through it
        camera = means.detach()[None] @ viewmats[:, :3, :3].transpose(-1, -2) + viewmats[:, None, :3, 3]
        reach = camera.norm(dim=-1) if fisheye else camera[..., 2].abs()
        return eps2d * (reach / focals.to(reach)[:, None]).square()


def dilated(scales: Tensor, variance: Tensor) -> Tensor:
    """Scales (N, 3) grown by an isotropic variance (N,) (differentiable in the scales)."""
    return torch.sqrt(scales.square() + variance[:, None])


def dilated_for_cameras(
    scales: Tensor, means: Tensor, viewmats: Tensor, Ks: Tensor, camera_model: str, eps2d: float
) -> Tensor:
    """The scales a call of C cameras renders with: each camera's floor, the smallest where C > 1 (the
    sharpest view decides, so no camera sees a Gaussian blurred by a farther one)."""
    if eps2d <= 0:
        return scales
    focals = torch.sqrt(Ks[:, 0, 0] * Ks[:, 1, 1])
    variance = floor_variance(means, viewmats, focals, camera_model == "fisheye", eps2d).amin(0)
    return dilated(scales, variance.to(scales.dtype))


def with_floor(rasterize: Callable[..., Any]) -> Callable[..., Any]:
    """`rasterize` (any backend's `rasterization`), its 3D-evaluation calls given the footprint floor."""

    @functools.wraps(rasterize)
    def rasterization(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("with_eval3d"):
            return rasterize(*args, **kwargs)
        kwargs.update(zip(_POSITIONAL, args, strict=False))
        kwargs["scales"] = dilated_for_cameras(
            kwargs["scales"],
            kwargs["means"],
            kwargs["viewmats"],
            kwargs["Ks"],
            kwargs.get("camera_model", "pinhole"),
            kwargs.get("eps2d", EPS2D),
        )
        return rasterize(**kwargs)

    return rasterization
