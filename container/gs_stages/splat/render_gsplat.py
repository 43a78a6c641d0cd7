"""gsplat's CUDA rasterizer, called exactly as splatfacto calls it, behind the same signature as
`render_torch.rasterization` so training does not care which one runs.

`packed=False` keeps `info["means2d"]` and `info["radii"]` shaped (C, N, ...), the layout the
densification strategies read; "classic" mode (no antialiasing compensation) is splatfacto's default
and what the .ply viewers expect.

`3dgut` passes `with_ut=True, with_eval3d=True` and the view's lens (`camera_model`, `radial_coeffs`
(C, 6) pinhole or (C, 4) fisheye, `tangential_coeffs` (C, 2)); gsplat then projects with the unscented
transform and evaluates each Gaussian along the pixel's ray. In that mode means2d carries no gradient
(gsplat's 3DGUT supports only the MCMC strategy) and absgrad is not computed.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


def import_error() -> str | None:
    """None when gsplat imports, else why not."""
    try:
        import gsplat  # noqa: F401
    except Exception as exc:  # ImportError, or a broken CUDA extension build
        return f"{type(exc).__name__}: {exc}"
    return None


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
    camera_model: str = "pinhole",
    radial_coeffs: Tensor | None = None,
    tangential_coeffs: Tensor | None = None,
    with_ut: bool = False,
    with_eval3d: bool = False,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    from gsplat import rasterization as gsplat_rasterization

    lens: dict[str, Any] = {}
    if with_ut or with_eval3d:  # only then: gsplat refuses coefficients without with_ut
        lens = {
            "with_ut": with_ut,
            "with_eval3d": with_eval3d,
            "camera_model": camera_model,
            "radial_coeffs": None if radial_coeffs is None else radial_coeffs.float().contiguous(),
            "tangential_coeffs": None if tangential_coeffs is None else tangential_coeffs.float().contiguous(),
        }
    return gsplat_rasterization(
        means=means,
        quats=quats,
        scales=scales,
        opacities=opacities,
        colors=colors,
        viewmats=viewmats,
        Ks=Ks,
        width=width,
        height=height,
        sh_degree=sh_degree,
        backgrounds=backgrounds,
        absgrad=absgrad,
        eps2d=eps2d,
        near_plane=near_plane,
        far_plane=far_plane,
        radius_clip=radius_clip,
        packed=False,
        sparse_grad=False,
        rasterize_mode="classic",
        render_mode="RGB",
        **lens,
    )
