"""Equirectangular (360°) frames → perspective cube-face images that SfM and training can use.

SfM and the splat trainer model pinhole cameras; an equirectangular frame is not one, so each frame
is resampled into square 90° views around one centre. All views share one exactly known pinhole
camera (f = size / 2, principal point at the centre, no distortion), which the sparse_model stage
holds fixed, and a known rotation in the frame, which it uses as a rig (see sfm/spherical.py).

Directions use the camera convention of COLMAP and OpenCV: x right, y down, z forward. The centre
of the equirectangular image looks along +z (`front`), its right quarter along +x (`right`), its
top row straight up (-y). Longitude grows to the right, latitude upwards.

Connecting views (sphericalCamera.optimizeSequentialFrameOrder): four more horizontal 90° views at
45° yaw between neighbouring side faces (`front-right`, `right-back`, `back-left`, `left-front`).
Cube faces only touch along an edge, so no feature is ever seen by two faces of one frame; when the
camera turns between frames, what `front` saw may be in `right` of the next frame, and each pair of
neighbours is then linked only through that turn. A 45° view overlaps half of each neighbour, so
the views of consecutive frames overlap whatever the turn, and matching chains faces into one
model. Up and down get none: a capture turns about the vertical axis, rarely tilts.

Names are `<view>_<frame>.jpg` (e.g. `front_000012.jpg`): the view first because COLMAP's rig
configuration assigns images to rig cameras by name prefix and groups the rest of the name into
one frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from gs_stages.stage import StageError

CUBE_FACES: tuple[str, ...] = ("front", "right", "back", "left", "up", "down")
CONNECTING_VIEWS: tuple[str, ...] = ("front-right", "right-back", "back-left", "left-front")
#: Yaw (about the down axis, positive turns right) and pitch (positive looks up), degrees, of each view.
VIEW_ANGLES: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0),
    "right": (90.0, 0.0),
    "back": (180.0, 0.0),
    "left": (270.0, 0.0),
    "up": (0.0, 90.0),
    "down": (0.0, -90.0),
    "front-right": (45.0, 0.0),
    "right-back": (135.0, 0.0),
    "back-left": (225.0, 0.0),
    "left-front": (315.0, 0.0),
}
#: The reference system divides videoProcessing.maxNumImages by this for spherical video (six faces).
FACES_PER_FRAME = 6
#: Face side as a share of the equirectangular width: 90° of 360°. At the face centre this samples a
#: little below the equator's resolution (size/2 vs width/2π px per radian), at its edges above it.
FACE_WIDTH_SHARE = 4
#: Columns copied around the longitude seam so bicubic sampling wraps instead of clamping.
_SEAM_PAD = 2
_NAME_RE = re.compile(r"^(?P<view>[a-z]+(?:-[a-z]+)?)_(?P<frame>\d{6})\.jpg$")


def view_names(removed: Iterable[str], connecting: bool) -> list[str]:
    """The views written per frame, in a fixed order: cube faces not removed, then connecting views.

    A connecting view is kept only when both faces it joins are: it exists to link them.
    """
    removed_set = set(removed)
    views = [face for face in CUBE_FACES if face not in removed_set]
    if connecting:
        views += [v for v in CONNECTING_VIEWS if not removed_set & set(v.split("-"))]
    return views


def view_rotation(view: str) -> np.ndarray:
    """3x3 rotation taking a direction in the view's camera frame to the equirectangular frame."""
    yaw, pitch = np.radians(VIEW_ANGLES[view])
    turn = np.array([[np.cos(yaw), 0.0, np.sin(yaw)], [0.0, 1.0, 0.0], [-np.sin(yaw), 0.0, np.cos(yaw)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(pitch), -np.sin(pitch)], [0.0, np.sin(pitch), np.cos(pitch)]])
    return turn @ tilt


def face_pinhole(size: int) -> tuple[float, float, float, float]:
    """COLMAP PINHOLE parameters (fx, fy, cx, cy) of every view: 90° field of view, centred."""
    half = size / 2.0
    return half, half, half, half


def face_size(equirect_width: int) -> int:
    return equirect_width // FACE_WIDTH_SHARE


def view_image_name(view: str, frame: int) -> str:
    return f"{view}_{frame:06d}.jpg"


def parse_view_name(name: str) -> tuple[str, int] | None:
    """(view, frame index) of a name written here, None for any other name."""
    match = _NAME_RE.match(name)
    if match is None or match["view"] not in VIEW_ANGLES:
        return None
    return match["view"], int(match["frame"])


def check_equirect(width: int, height: int, what: str) -> None:
    """Refuse anything but 2:1 (one pixel of rounding allowed): any other shape is not a full sphere."""
    if abs(width - 2 * height) > 1:
        raise StageError(
            f"sphericalCamera.enable is on, but {what} is {width}x{height}, not 2:1 equirectangular "
            f"(a full 360°x180° panorama is twice as wide as it is high)",
            hint="export the 360° footage as equirectangular (e.g. 5760x2880), not as dual fisheye or a "
            "cropped view; or set sphericalCamera.enable to false for ordinary video or photos",
        )


def view_maps(view: str, size: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps: for each face pixel, where its ray hits the seam-padded equirectangular image.

    Face pixel (i, j) has its centre at (i + 0.5, j + 0.5) (COLMAP's convention), so its ray is
    ((i + 0.5 - cx) / f, (j + 0.5 - cy) / f, 1) in the view's frame.
    """
    fx, fy, cx, cy = face_pinhole(size)
    grid = np.arange(size, dtype=np.float64) + 0.5
    xs, ys = np.meshgrid((grid - cx) / fx, (grid - cy) / fy)
    rays = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ view_rotation(view).T
    x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
    longitude = np.arctan2(x, z)
    latitude = np.arctan2(-y, np.hypot(x, z))
    # Equirect pixel u covers longitudes [u, u + 1) * 2π / width - π; remap addresses pixel centres at u.
    map_x = (longitude + np.pi) / (2 * np.pi) * width - 0.5 + _SEAM_PAD
    map_y = (np.pi / 2 - latitude) / np.pi * height - 0.5
    return map_x.astype(np.float32), map_y.astype(np.float32)


@dataclass
class EquirectSplitter:
    """Splits frames of one size into the chosen views; the remap tables are built once per size."""

    views: Sequence[str]
    size: int
    _maps: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict, repr=False)

    def split(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """{view: square image} for an H x W (x C) equirectangular image, bicubic resampling."""
        height, width = image.shape[:2]
        maps = self._maps.get((width, height))
        if maps is None:
            maps = [view_maps(view, self.size, width, height) for view in self.views]
            self._maps[(width, height)] = maps
        padded = np.concatenate([image[:, -_SEAM_PAD:], image, image[:, :_SEAM_PAD]], axis=1)
        return {
            view: cv2.remap(padded, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            for view, (map_x, map_y) in zip(self.views, maps, strict=True)
        }
