"""Projection of 3D Gaussians into pinhole cameras, and their view-dependent colour, as gsplat 1.5.3 does.

The first half of `render_torch.py`'s renderer (its docstring lists the rules): EWA splatting with
gsplat's field-of-view clamp, low-pass filter, near/far culling and opacity-aware boxes, and the real
spherical harmonics it evaluates. `render_ut.py` projects through distorted lenses instead and reuses the
covariances, the thresholds and the `Projection` layout from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gs_stages.gaussians import SH_C0, SH_C1, SH_C2, SH_C3

ALPHA_THRESHOLD = 1.0 / 255.0
BOX_SIGMAS = 3.33  # gsplat 1.5.3 `extend`


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
