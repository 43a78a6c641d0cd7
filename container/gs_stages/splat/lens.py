"""A view's lens as gsplat's unscented-transform rasterizer takes it (`3dgut`): model name and coefficients.

`3dgut` trains on the photos as they were taken, without undistortion, so the COLMAP camera's
distortion travels with each view. gsplat 1.5.3 knows two lens families (`camera_model`):
* "pinhole": OpenCV's pinhole model, radial (k1, k2, k3 over 1 + k4, k5, k6: `radial_coeffs`, 6)
  and tangential (p1, p2: `tangential_coeffs`) terms; COLMAP's SIMPLE_RADIAL, RADIAL, OPENCV and
  FULL_OPENCV are all special cases of it;
* "fisheye": OpenCV's equidistant fisheye, theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8)
  (`radial_coeffs`, 4); COLMAP's OPENCV_FISHEYE, and SIMPLE_RADIAL_FISHEYE / RADIAL_FISHEYE (the same
  polynomial with fewer terms).
Other COLMAP models (FOV, the thin-prism fisheyes) have no gsplat counterpart: `from_colmap` returns
None and the scene undistorts those views as for every other model.

The coefficients act on normalised image coordinates, so they do not change when a view is
downscaled; only K does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

if TYPE_CHECKING:  # scene.py imports this module
    from gs_stages.splat.scene import View

CameraModel = Literal["pinhole", "fisheye"]
PINHOLE_MODELS = ("SIMPLE_PINHOLE", "PINHOLE")


@dataclass(frozen=True)
class Lens:
    """gsplat's `camera_model` and distortion coefficients of one camera (no distortion: both None)."""

    model: CameraModel = "pinhole"
    radial: tuple[float, ...] | None = None  # 6 for "pinhole", 4 for "fisheye"
    tangential: tuple[float, float] | None = None  # "pinhole" only

    @property
    def distorted(self) -> bool:
        return self.model == "fisheye" or any(self.radial or ()) or any(self.tangential or ())


def _radial(*k: float, n: int = 6) -> tuple[float, ...]:
    return tuple(float(v) for v in k) + (0.0,) * (n - len(k))


#: COLMAP model -> Lens from its parameter list (focal length(s), principal point, then distortion).
_FROM_COLMAP = {
    "SIMPLE_PINHOLE": lambda p: Lens(),
    "PINHOLE": lambda p: Lens(),
    "SIMPLE_RADIAL": lambda p: Lens("pinhole", _radial(p[3])),
    "RADIAL": lambda p: Lens("pinhole", _radial(p[3], p[4])),
    "OPENCV": lambda p: Lens("pinhole", _radial(p[4], p[5]), (float(p[6]), float(p[7]))),
    "FULL_OPENCV": lambda p: Lens("pinhole", _radial(p[4], p[5], *p[8:12]), (float(p[6]), float(p[7]))),
    "OPENCV_FISHEYE": lambda p: Lens("fisheye", _radial(*p[4:8], n=4)),
    "SIMPLE_RADIAL_FISHEYE": lambda p: Lens("fisheye", _radial(p[3], n=4)),
    "RADIAL_FISHEYE": lambda p: Lens("fisheye", _radial(p[3], p[4], n=4)),
}
SUPPORTED_MODELS = tuple(_FROM_COLMAP)


def from_colmap(model_name: str, params: Any) -> Lens | None:
    """The Lens of a COLMAP camera, or None when gsplat has no such model (the view is undistorted)."""
    make = _FROM_COLMAP.get(model_name)
    return make(list(params)) if make is not None else None


def camera_kwargs(lens: Lens | None, device: torch.device | str) -> dict[str, Any]:
    """The keyword arguments that make a rasterizer call (one camera) project with the unscented
    transform and evaluate in 3D through `lens`; {} for None (a view of the classic EWA path)."""
    if lens is None:
        return {}
    kwargs: dict[str, Any] = {"with_ut": True, "with_eval3d": True, "camera_model": lens.model}
    if lens.radial is not None and lens.distorted:
        kwargs["radial_coeffs"] = torch.tensor([lens.radial], dtype=torch.float32, device=device)
        if lens.model == "pinhole":
            kwargs["tangential_coeffs"] = torch.tensor([lens.tangential or (0.0, 0.0)], device=device)
    return kwargs


def view_camera(view: View, device: torch.device | str) -> dict[str, Any]:
    """The keyword arguments that render one view (pose, intrinsics, size and its lens) with any rasterizer."""
    return {
        "viewmats": view.viewmat[None].to(device),
        "Ks": view.K[None].to(device),
        "width": view.width,
        "height": view.height,
        **camera_kwargs(view.lens, device),
    }


def coefficients(
    camera_model: str, radial_coeffs: Tensor | None, tangential_coeffs: Tensor | None, n_cameras: int, like: Tensor
) -> tuple[Tensor, Tensor]:
    """(radial (C, 6|4), tangential (C, 2)) with zeros for what is not given, as gsplat defaults them."""
    size = 4 if camera_model == "fisheye" else 6
    radial = radial_coeffs if radial_coeffs is not None else like.new_zeros(n_cameras, size)
    tangential = tangential_coeffs if tangential_coeffs is not None else like.new_zeros(n_cameras, 2)
    if radial.shape != (n_cameras, size):
        raise ValueError(f"radial_coeffs for camera_model {camera_model!r} must be ({n_cameras}, {size})")
    return radial.to(like), tangential.to(like)
