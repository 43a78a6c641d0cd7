"""3DGUT on the CPU: gsplat 1.5.3's unscented-transform projection and 3D evaluation, in PyTorch.

`3dgut` (Wu et al. 2025, NVIDIA 3DGRUT; gsplat's `with_ut=True, with_eval3d=True`) renders through
distorted and fisheye lenses without undistorting the photos. Two parts replace the EWA splatting of
`render_torch.project`:

* projection (`project_ut`): the Gaussian's 7 sigma points (mean, mean +- sqrt(3 + lambda) s_i r_i
  along its principal axes; alpha 0.1, beta 2, kappa 0) go through the full camera model, lens
  included; their weighted mean and covariance are the 2D Gaussian that decides which pixels are
  tested (the box) and the depth order. A Gaussian is dropped when any sigma point falls behind the
  camera, outside the image by more than 10 % of its size, or (pinhole lens) where the radial factor
  is under 0.8. Not differentiable (gsplat's is not either): gradients come from the 3D evaluation;
* evaluation (`WorldResponse`): each pixel's ray is found by inverting the lens (`pixel_rays`), and a
  Gaussian's alpha is o * exp(-d^2 / 2), d the smallest Mahalanobis distance of the ray to the
  Gaussian: the response at its maximum along the ray, not on a projected ellipse, so it stays
  right where the lens bends straight lines.

Lens formulas, iteration counts and thresholds follow gsplat's `Cameras.cuh` so that
`bench/gpu_parity.py --ut` can hold the two to one tolerance: OpenCV pinhole (radial k1..k6 as a
ratio, tangential p1, p2; undistortion by 5 Newton steps) and OpenCV fisheye (theta_d = theta (1 + k1
theta^2 + ... + k4 theta^8), clamped at the polynomial's first turning point or the image corner's
angle; 20 Newton steps). A pixel whose ray does not converge is never covered, as in gsplat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gs_stages.splat.lens import coefficients
from gs_stages.splat.render_torch import ALPHA_THRESHOLD, BOX_SIGMAS, MAX_ALPHA, Projection, quats_to_rotmats

UT_ALPHA, UT_BETA, UT_KAPPA = 0.1, 2.0, 0.0
IN_IMAGE_MARGIN = 0.1
MIN_RADIAL_FACTOR = 0.8
PINHOLE_NEWTON_STEPS, FISHEYE_NEWTON_STEPS = 5, 20
NEWTON_TOLERANCE = 1e-6


@dataclass
class Camera:
    """One camera of a rasterizer call: intrinsics, lens, image size (float64 for the lens maths)."""

    fx: float
    fy: float
    cx: float
    cy: float
    model: str
    radial: Tensor  # (6,) or (4,)
    tangential: Tensor  # (2,)
    width: int
    height: int

    @property
    def distorted(self) -> bool:
        return self.model == "fisheye" or bool(self.radial.any() or self.tangential.any())

    @property
    def max_angle(self) -> float:
        """Fisheye: the largest angle the lens maps (first turning point of its polynomial, and no more
        than the image corner's distance in focal lengths, as gsplat clamps it)."""
        k = self.radial.tolist()
        derivative = [9 * k[3], 7 * k[2], 5 * k[1], 3 * k[0], 1.0]  # in theta^2, highest power first
        roots = np.roots(np.trim_zeros(np.array(derivative), "f"))
        positive = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
        turning = math.sqrt(min(positive)) if positive else math.inf
        corner = math.hypot(max(self.width - self.cx, self.cx), max(self.height - self.cy, self.cy))
        return min(turning, max(corner / self.fx, corner / self.fy))


def cameras(
    Ks: Tensor,
    width: int,
    height: int,
    camera_model: str,
    radial_coeffs: Tensor | None,
    tangential_coeffs: Tensor | None,
) -> list[Camera]:
    radial, tangential = coefficients(camera_model, radial_coeffs, tangential_coeffs, len(Ks), Ks.double())
    return [
        Camera(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), camera_model, r, t, width, height)
        for K, r, t in zip(Ks.detach().double().cpu(), radial.cpu(), tangential.cpu(), strict=True)
    ]


def _distort_pinhole(cam: Camera, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """OpenCV's pinhole distortion of normalised coordinates: (xd, yd, radial factor)."""
    k1, k2, k3, k4, k5, k6 = cam.radial.tolist()
    p1, p2 = cam.tangential.tolist()
    r2 = x * x + y * y
    factor = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = factor * x + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = factor * y + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd, factor


def _fisheye_poly(cam: Camera, theta: Tensor) -> Tensor:
    k1, k2, k3, k4 = cam.radial.tolist()
    t2 = theta * theta
    return theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))


def project_points(cam: Camera, points: Tensor, margin: float = IN_IMAGE_MARGIN) -> tuple[Tensor, Tensor]:
    """Camera-frame points (..., 3) -> pixel coordinates (..., 2) through the lens, and validity."""
    x, y, z = points.unbind(-1)
    in_front = z > 0
    if cam.model == "fisheye":
        rho = torch.sqrt(x * x + y * y).clamp_min(torch.finfo(points.dtype).eps)
        theta = torch.atan2(rho, z).clamp_max(cam.max_angle)
        delta = _fisheye_poly(cam, theta) / rho
        u, v = cam.fx * delta * x + cam.cx, cam.fy * delta * y + cam.cy
        ok = in_front & (delta > 0)
    else:
        zs = torch.where(in_front, z, torch.ones_like(z))
        xd, yd, factor = _distort_pinhole(cam, x / zs, y / zs)
        u, v = cam.fx * xd + cam.cx, cam.fy * yd + cam.cy
        ok = in_front & (factor > MIN_RADIAL_FACTOR if cam.distorted else True)
    mx, my = cam.width * margin, cam.height * margin
    ok = ok & (u >= -mx) & (u < cam.width + mx) & (v >= -my) & (v < cam.height + my)
    return torch.stack([u, v], dim=-1), ok


@torch.no_grad()
def project_ut(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmats: Tensor,
    cams: list[Camera],
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
) -> Projection:
    """gsplat's `fully_fused_projection_with_ut` (classic mode): means2d, conics, depths, radii per camera."""
    dim = 3
    lam = UT_ALPHA**2 * (dim + UT_KAPPA) - dim
    spread = math.sqrt(dim + lam) * scales.double()[:, None, :] * quats_to_rotmats(quats.double())  # columns
    offsets = spread.transpose(-1, -2)  # (N, 3 axes, 3)
    sigma = torch.cat(
        [means.double()[:, None], means.double()[:, None] + offsets, means.double()[:, None] - offsets], 1
    )
    w_mean = torch.full((2 * dim + 1,), 1 / (2 * (dim + lam)), dtype=torch.float64, device=means.device)
    w_cov = w_mean.clone()
    w_mean[0], w_cov[0] = lam / (dim + lam), lam / (dim + lam) + (1 - UT_ALPHA**2 + UT_BETA)
    out = []
    for c, cam in enumerate(cams):
        rot, trans = viewmats[c, :3, :3].double(), viewmats[c, :3, 3].double()
        depth = means.double() @ rot[2] + trans[2]
        image, ok = project_points(cam, sigma @ rot.T + trans)  # (N, 7, 2)
        mean2d = (w_mean[:, None] * image).sum(1)
        diff = image - mean2d[:, None]
        cov = (w_cov[:, None, None] * diff[..., :, None] * diff[..., None, :]).sum(1)
        a, b, cc = cov[:, 0, 0] + eps2d, cov[:, 0, 1], cov[:, 1, 1] + eps2d
        det = a * cc - b * b
        opac = opacities.double().expand_as(depth)
        extend = torch.sqrt(2 * torch.log(opac.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD)).clamp_max(BOX_SIGMAS)
        half = 0.5 * (a + cc)
        r1 = extend * torch.sqrt(half + torch.sqrt((half * half - det).clamp_min(0.01)))
        rx = torch.ceil(torch.minimum(extend * a.clamp_min(0).sqrt(), r1))
        ry = torch.ceil(torch.minimum(extend * cc.clamp_min(0).sqrt(), r1))
        mx, my = mean2d[:, 0], mean2d[:, 1]
        visible = (
            (depth >= near_plane) & (depth <= far_plane) & ok.all(1) & (det > 0) & (opac >= ALPHA_THRESHOLD)
            & ((rx > radius_clip) | (ry > radius_clip))
            & (mx + rx > 0) & (mx - rx < cam.width) & (my + ry > 0) & (my - ry < cam.height)
        )  # fmt: skip
        det_safe = torch.where(det > 0, det, torch.ones_like(det))
        conic = torch.stack([cc / det_safe, -b / det_safe, a / det_safe], -1)
        radii = torch.where(visible[:, None], torch.stack([rx, ry], -1), torch.zeros_like(mean2d))
        out.append((mean2d, conic, depth, radii))
    means2d, conics, depths, radii = (torch.stack(t).to(means.dtype) for t in zip(*out, strict=True))
    return Projection(means2d=means2d, conics=conics, depths=depths, radii=radii.to(torch.int32))


@torch.no_grad()
def pixel_rays(cam: Camera, device: torch.device) -> tuple[Tensor, Tensor]:
    """Unit camera-frame ray (H*W, 3) through each pixel centre (row-major), and whether the lens
    inversion converged (gsplat leaves such pixels uncovered)."""
    v, u = torch.meshgrid(
        torch.arange(cam.height, dtype=torch.float64) + 0.5,
        torch.arange(cam.width, dtype=torch.float64) + 0.5,
        indexing="ij",
    )
    xd, yd = ((u - cam.cx) / cam.fx).ravel(), ((v - cam.cy) / cam.fy).ravel()
    if cam.model == "fisheye":
        rho = torch.sqrt(xd * xd + yd * yd)
        limit = cam.max_angle
        theta = rho * limit / max(0.5 * cam.width / cam.fx, 0.5 * cam.height / cam.fy)
        k1, k2, k3, k4 = cam.radial.tolist()
        converged = torch.zeros_like(rho, dtype=torch.bool)
        for _ in range(FISHEYE_NEWTON_STEPS):
            t2 = theta * theta
            slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
            step = (_fisheye_poly(cam, theta) - rho) / slope
            theta = torch.where(converged, theta, theta - step)
            converged |= step.abs() < NEWTON_TOLERANCE
        valid = converged & (theta >= 0) & (theta < limit)
        scale = torch.where(rho >= 1e-6, torch.sin(theta) / rho.clamp_min(1e-6), torch.zeros_like(rho))
        rays = torch.stack([scale * xd, scale * yd, torch.where(rho >= 1e-6, torch.cos(theta), 1.0)], -1)
    elif cam.distorted:
        rays, valid = _undistort_pinhole(cam, xd, yd)
    else:
        rays, valid = torch.stack([xd, yd, torch.ones_like(xd)], -1), torch.ones_like(xd, dtype=torch.bool)
    return F.normalize(rays, dim=-1).float().to(device), valid.to(device)


def _undistort_pinhole(cam: Camera, xd: Tensor, yd: Tensor) -> tuple[Tensor, Tensor]:
    """gsplat's Newton undistortion (5 steps from the distorted point, converged at 1e-6)."""
    x, y = xd.clone(), yd.clone()
    converged = torch.zeros_like(x, dtype=torch.bool)
    active = torch.ones_like(converged)
    for _ in range(PINHOLE_NEWTON_STEPS):
        with torch.enable_grad():
            xy = torch.stack([x, y]).requires_grad_(True)
            dx_, dy_, factor = _distort_pinhole(cam, xy[0], xy[1])
            jx = torch.autograd.grad(dx_.sum(), xy, retain_graph=True)[0]
            jy = torch.autograd.grad(dy_.sum(), xy)[0]
        fx, fy = dx_.detach() - xd, dy_.detach() - yd
        det = jx[0] * jy[1] - jx[1] * jy[0]
        active &= (factor.detach() > 0) & (det.abs() >= NEWTON_TOLERANCE)
        det = torch.where(active, det, torch.ones_like(det))
        step_x = (fx * jy[1] - fy * jx[1]) / det
        step_y = (fy * jx[0] - fx * jy[0]) / det
        move = active & ~converged
        x, y = torch.where(move, x - step_x, x), torch.where(move, y - step_y, y)
        converged |= move & (step_x.abs() < NEWTON_TOLERANCE) & (step_y.abs() < NEWTON_TOLERANCE)
        active &= ~converged
    return torch.stack([x, y, torch.ones_like(x)], -1), converged


class WorldResponse:
    """Alpha of (pixel, Gaussian) pairs evaluated in 3D: the Gaussian's peak response along the pixel's ray.

    `means`, `quats`, `scales`, `opacities` are the visible set of one camera (autograd flows to them);
    `origin` (3,) is the camera centre, `rays` (H*W, 3) world-frame ray directions, `valid` (H*W,).
    """

    def __init__(
        self,
        means: Tensor,
        quats: Tensor,
        scales: Tensor,
        opacities: Tensor,
        origin: Tensor,
        rays: Tensor,
        valid: Tensor,
    ):
        self.means, self.opacities, self.origin, self.rays, self.valid = means, opacities, origin, rays, valid
        # S^-1 R^T: world offsets -> the Gaussian's unit-sphere frame.
        self.to_unit = quats_to_rotmats(quats).transpose(-1, -2) / scales[..., :, None]

    def __call__(self, g: Tensor, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha, power) for pairs of visible-set indices `g` and row-major `pixels`."""
        to_unit = self.to_unit.index_select(0, g)
        origin = ((self.origin - self.means.index_select(0, g))[:, None, :] * to_unit).sum(-1)
        direction = F.normalize((self.rays.index_select(0, pixels)[:, None, :] * to_unit).sum(-1), dim=-1)
        power = 0.5 * torch.linalg.cross(direction, origin).square().sum(-1)
        alpha = torch.clamp_max(self.opacities.index_select(0, g) * torch.exp(-power), MAX_ALPHA)
        return torch.where(self.valid.index_select(0, pixels), alpha, torch.zeros_like(alpha)), power


def camera_response(
    cam: Camera, viewmat: Tensor, means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, visible: Tensor
) -> WorldResponse:
    """The 3D evaluation of one camera's `visible` Gaussians (boolean mask over all N)."""
    rays, valid = pixel_rays(cam, means.device)
    rot = viewmat[:3, :3].to(rays.dtype)
    origin = -rot.T @ viewmat[:3, 3].to(rays.dtype)  # the camera centre in world coordinates
    return WorldResponse(means[visible], quats[visible], scales[visible], opacities[visible], origin, rays @ rot, valid)
