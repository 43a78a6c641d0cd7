"""The demo's scene: a small gallery room, ray-cast with numpy, that looks like a photographed place.

Brick walls hang framed photographs, a stone plinth in the middle carries a photo cube and a globe, a
point light under the ceiling shades every surface (Lambert, in linear light) and casts the objects'
shadows on the floor. The photographs and textures are scikit-image's sample images, shipped in its
wheel under public-domain or CC0 terms (docs/DEMO_ASSETS.md lists each one with its licence), so the
scene is made on the user's machine from packages the project installs, and nothing is downloaded.

Every pixel is the mean of SUPERSAMPLE x SUPERSAMPLE rays, as a camera's sensor integrates light, so
edges are anti-aliased as in a photo; the same camera path always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

ROOM_LO = np.array([-3.0, -1.0, -3.0])  # the room is this box, seen from inside; the floor is y = -1
ROOM_HI = np.array([3.0, 2.0, 3.0])
LIGHT = np.array([1.2, 1.8, 0.9])  # a point light under the ceiling
AMBIENT = 0.28
SUPERSAMPLE = 2


@dataclass(frozen=True)
class Box:
    centre: tuple[float, float, float]
    half: tuple[float, float, float]
    faces: tuple[str, str, str, str, str, str]  # texture per face: -x, +x, -y, +y, -z, +z


@dataclass(frozen=True)
class Picture:
    """A framed photograph on the wall `axis` = `value` (axis 0: x, 2: z), centred at (u, y) on it."""

    photo: str
    axis: int
    value: float
    u: float
    y: float
    height: float
    frame: float = 0.06


STONE = "stone"
BOXES = (
    Box((0.0, -0.6, 0.0), (0.42, 0.4, 0.42), (STONE,) * 6),  # the plinth
    Box((0.0, 0.05, 0.0), (0.25, 0.25, 0.25), ("chelsea", "coffee", STONE, "hubble", "astronaut", "rocket")),
)
SPHERE = ((0.85, -0.72, -0.55), 0.28, "retina")
PICTURES = (
    Picture("astronaut", 2, 2.99, -0.9, 0.35, 1.0),
    Picture("coffee", 2, 2.99, 1.1, 0.25, 0.8),
    Picture("chelsea", 0, -2.99, 0.2, 0.3, 0.9),
    Picture("rocket", 2, -2.99, -0.4, 0.3, 1.1),
    Picture("hubble", 0, 2.99, -0.5, 0.25, 0.8),
)
#: scikit-image sample files (skimage/data in its wheel); DEMO_ASSETS.md gives each one's licence.
FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "brick": "brick.png",
    "gravel": "gravel.png",
    STONE: "gravel.png",
}
#: Grey textures become coloured materials: (tint, contrast) in linear light.
TINTS = {"brick": ((0.62, 0.30, 0.20), 0.9), "gravel": ((0.40, 0.36, 0.31), 0.5), STONE: ((0.62, 0.60, 0.56), 0.25)}
#: Grey textures smoothed by this Gaussian sigma (px of 512): gravel's grain, not its sparkle.
BLUR = {"gravel": 3.0, STONE: 2.0}
CROP = {"retina": 0.2}  # share cut from each side: the fundus photo's black surround
WORLD_SCALE = {"brick": 1.6, "gravel": 2.5}  # metres per texture repeat on walls and floor
FRAME_COLOUR = np.array([0.08, 0.05, 0.03])
CEILING_COLOUR = np.array([0.75, 0.74, 0.70])


@cache
def texture(name: str) -> np.ndarray:
    """A texture as float32 RGB in linear light, at most 512 px on a side."""
    import cv2

    try:
        folder = resources.files("skimage.data")
    except ModuleNotFoundError as exc:
        raise RuntimeError("the demo scene needs scikit-image's sample images: pip install scikit-image") from exc
    image = cv2.imread(str(folder / FILES[name]), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError(f"cannot read {FILES[name]} from scikit-image's data folder {folder}")
    scale = 512 / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if name in CROP:
        h, w = image.shape[:2]
        top, left = int(h * CROP[name]), int(w * CROP[name])
        image = image[top : h - top, left : w - left]
    if name == "brick":  # the photo's courses run vertically: turn them level
        image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if name in BLUR:
        image = cv2.GaussianBlur(image, (0, 0), BLUR[name])
    linear = (cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0) ** 2.2
    if name in TINTS:
        tint, contrast = TINTS[name]
        grey = linear.mean(axis=2, keepdims=True)
        linear = np.asarray(tint, np.float32) * (1.0 - contrast + contrast * grey / max(grey.mean(), 1e-6))
    return np.ascontiguousarray(linear, np.float32)


def sample(name: str, u: np.ndarray, v: np.ndarray, wrap: bool) -> np.ndarray:
    """Colours at texture coordinates (u, v) in [0, 1] (wrapped when `wrap`, else clamped), bilinear."""
    image = texture(name)
    h, w = image.shape[:2]
    if wrap:
        u, v = u % 1.0, v % 1.0
    x = np.clip(u, 0, 1) * (w - 1)
    y = np.clip(v, 0, 1) * (h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1 = (x0 + 1) % w if wrap else np.minimum(x0 + 1, w - 1)
    y1 = (y0 + 1) % h if wrap else np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None].astype(np.float32), (y - y0)[:, None].astype(np.float32)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _slab(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - origin) / dirs, (hi - origin) / dirs
    return np.nanmax(np.minimum(t1, t2), axis=-1), np.nanmin(np.maximum(t1, t2), axis=-1)


def _sphere_t(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    centre, radius, _ = SPHERE
    oc = origin - np.asarray(centre)
    b = np.einsum("...i,...i->...", dirs, oc)
    disc = b * b - (np.einsum("...i,...i->...", oc, oc) - radius * radius)
    with np.errstate(invalid="ignore"):
        t = -b - np.sqrt(disc)
    return np.where((disc > 0) & (t > 1e-6), t, np.inf)


def _box_t(origin: np.ndarray, dirs: np.ndarray, box: Box) -> np.ndarray:
    c, s = np.asarray(box.centre), np.asarray(box.half)
    near, far = _slab(origin, dirs, c - s, c + s)
    return np.where((near <= far) & (near > 1e-6), near, np.inf)


def trace(eye: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Linear RGB seen along unit rays `dirs` (N, 3) from `eye`."""
    n = len(dirs)
    _, t_room = _slab(eye, dirs, ROOM_LO, ROOM_HI)
    best, kind = t_room.copy(), np.zeros(n, np.int32)  # 0 room, 1.. boxes, then sphere, then pictures
    candidates = [_box_t(eye, dirs, box) for box in BOXES] + [_sphere_t(eye, dirs)]
    for index, t in enumerate(candidates, start=1):
        hit = t < best
        best, kind = np.where(hit, t, best), np.where(hit, index, kind)
    first_picture = len(candidates) + 1
    for index, picture in enumerate(PICTURES, start=first_picture):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (picture.value - eye[picture.axis]) / dirs[:, picture.axis]
        p = eye + dirs * t[:, None]
        u_axis = 2 - picture.axis
        inside = (np.abs(p[:, 1] - picture.y) <= picture.height / 2) & (t > 0) & (t < best)
        inside &= np.abs(p[:, u_axis] - picture.u) <= picture.height * _aspect(picture.photo) / 2
        best, kind = np.where(inside, t, best), np.where(inside, index, kind)

    points = eye + dirs * best[:, None]
    albedo, normal = np.zeros((n, 3), np.float32), np.zeros((n, 3))
    for k in np.unique(kind):
        m = kind == k
        if k == 0:
            albedo[m], normal[m] = _room(points[m])
        elif k <= len(BOXES):
            albedo[m], normal[m] = _box_surface(points[m], BOXES[k - 1])
        elif k == len(BOXES) + 1:
            albedo[m], normal[m] = _sphere_surface(points[m])
        else:
            albedo[m], normal[m] = _picture_surface(points[m], PICTURES[k - first_picture])
    return albedo * _light(points, normal)[:, None]


def _aspect(photo: str) -> float:
    h, w = texture(photo).shape[:2]
    return w / h


def _room(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brick walls, a gravel floor, a plain ceiling: the face is the axis where p is nearest the room's box."""
    lo_gap, hi_gap = p - ROOM_LO, ROOM_HI - p
    gaps = np.minimum(lo_gap, hi_gap)
    axis = np.argmin(gaps, axis=1)
    side = np.where(lo_gap[np.arange(len(p)), axis] < hi_gap[np.arange(len(p)), axis], 1.0, -1.0)
    normal = np.zeros_like(p)
    normal[np.arange(len(p)), axis] = side
    colour = np.empty((len(p), 3), np.float32)
    floor, ceiling = (axis == 1) & (side > 0), (axis == 1) & (side < 0)
    walls = axis != 1
    scale = WORLD_SCALE["gravel"]
    colour[floor] = sample("gravel", p[floor, 0] / scale, p[floor, 2] / scale, wrap=True)
    colour[ceiling] = CEILING_COLOUR
    u = np.where(axis[walls] == 0, p[walls, 2], p[walls, 0]) + 7.0 * axis[walls] + 3.0 * side[walls]
    scale = WORLD_SCALE["brick"]
    colour[walls] = sample("brick", u / scale, -p[walls, 1] / scale, wrap=True)
    return colour, normal


def _box_surface(p: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    q = (p - np.asarray(box.centre)) / np.asarray(box.half)  # in [-1, 1] on the box
    axis = np.argmax(np.abs(q), axis=1)
    sign = np.sign(q[np.arange(len(p)), axis])
    normal = np.zeros_like(p)
    normal[np.arange(len(p)), axis] = sign
    face = 2 * axis + (sign > 0)
    colour = np.empty((len(p), 3), np.float32)
    for f in np.unique(face):
        m = face == f
        a = f // 2
        u_axis, v_axis = ((2, 1), (0, 2), (0, 1))[a]
        flip = 1.0 if (f % 2 == 1) == (a != 2) else -1.0  # photos read left to right from outside
        u = 0.5 + 0.5 * flip * q[m, u_axis] * (-1 if a == 0 else 1)
        v = 0.5 - 0.5 * q[m, v_axis] if a != 1 else 0.5 + 0.5 * q[m, v_axis]
        colour[m] = sample(box.faces[f], u, v, wrap=False)
    return colour, normal


def _sphere_surface(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, radius, name = SPHERE
    normal = (p - np.asarray(centre)) / radius
    u = 0.5 + np.arctan2(normal[:, 2], normal[:, 0]) / (2 * np.pi)
    v = np.arccos(np.clip(normal[:, 1], -1, 1)) / np.pi
    return sample(name, u, v, wrap=True), normal


def _picture_surface(p: np.ndarray, picture: Picture) -> tuple[np.ndarray, np.ndarray]:
    half_h = picture.height / 2
    half_w = half_h * _aspect(picture.photo)
    u_axis = 2 - picture.axis
    facing = -np.sign(picture.value)  # into the room
    du = (p[:, u_axis] - picture.u) / half_w
    dv = (p[:, 1] - picture.y) / half_h
    # Seen from inside the room, the photo's left edge is where the wall's u axis points away from the viewer.
    left_to_right = facing if picture.axis == 2 else -facing
    u = 0.5 - 0.5 * left_to_right * du
    v = 0.5 - 0.5 * dv
    colour = sample(picture.photo, u, v, wrap=False)
    in_frame = (np.abs(du) * half_w > half_w - picture.frame) | (np.abs(dv) * half_h > half_h - picture.frame)
    colour[in_frame] = FRAME_COLOUR
    normal = np.zeros_like(p)
    normal[:, picture.axis] = facing
    return colour, normal


def _light(points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Ambient plus a point light with soft falloff; the boxes and the globe cast shadows."""
    to_light = LIGHT - points
    distance = np.linalg.norm(to_light, axis=1)
    direction = to_light / distance[:, None]
    lambert = np.clip(np.einsum("ij,ij->i", normal, direction), 0.0, None)
    start = points + normal * 1e-4
    blocked = np.zeros(len(points), bool)
    for box in BOXES:
        blocked |= _box_t(start, direction, box) < distance
    blocked |= _sphere_t(start, direction) < distance
    direct = np.where(blocked, 0.0, lambert) * 9.0 / (4.0 + distance**2)
    return (AMBIENT + direct).astype(np.float32)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world rotation with OpenCV axes (x right, y down, z forward)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack([right, -up, forward], axis=1)


def render(eye: np.ndarray, target: np.ndarray, width: int, height: int, focal: float) -> np.ndarray:
    """One sRGB uint8 image (height, width, 3) of the gallery seen from `eye` towards `target`."""
    import cv2

    s = SUPERSAMPLE
    ys, xs = np.mgrid[0 : height * s, 0 : width * s].astype(np.float64)
    f = focal * s
    cam = np.stack([(xs + 0.5 - width * s / 2) / f, (ys + 0.5 - height * s / 2) / f, np.ones_like(xs)], axis=-1)
    dirs = cam.reshape(-1, 3) @ look_at(eye, target).T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    linear = trace(eye, dirs).reshape(height * s, width * s, 3)
    linear = cv2.resize(linear, (width, height), interpolation=cv2.INTER_AREA)
    return (np.clip(linear, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
