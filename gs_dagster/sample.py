"""A synthetic sample that reconstructs on a CPU in minutes: a camera circling textured boxes inside a
textured room, ray-cast with numpy. Every surface carries multi-scale noise and colour blobs, so feature
matching finds thousands of correspondences; the views overlap like a slow orbit video.

    python -m gs_dagster.sample out.zip            # images/0000.jpg ... in a zip (default)
    python -m gs_dagster.sample out.mp4            # the same views as an mp4 video
"""

from __future__ import annotations

import argparse
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOM = 4.0  # the room is the cube [-ROOM, ROOM]^3, seen from inside
# Boxes on the floor (centre, half-size); the floor is at y = -1.
BOXES = (
    ((0.0, -0.55, 0.0), (0.45, 0.45, 0.45)),
    ((0.9, -0.75, 0.5), (0.25, 0.25, 0.3)),
    ((-0.7, -0.7, -0.6), (0.3, 0.3, 0.25)),
    ((-0.5, -0.8, 0.9), (0.2, 0.2, 0.2)),
)
FLOOR = -1.0


@dataclass(frozen=True)
class SampleSpec:
    views: int = 32
    width: int = 320
    height: int = 240
    radius: float = 2.4
    arc_degrees: float = 300.0
    seed: int = 7


def _texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Multi-scale value noise plus colour blobs: an RGB float image in [0, 1]."""
    import cv2

    image = np.zeros((size, size, 3), np.float32)
    for cells, weight in ((4, 0.35), (16, 0.3), (64, 0.25), (256, 0.1)):
        grid = rng.random((cells, cells, 3)).astype(np.float32)
        image += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        colour = tuple(float(v) for v in rng.random(3))
        cv2.circle(image, centre, int(rng.integers(4, 28)), colour, -1, lineType=cv2.LINE_AA)
    return np.clip(image, 0.0, 1.0)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack([right, -up, forward], axis=1)  # camera-to-world rotation, OpenCV axes (y down)


def _slab(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - origin) / dirs
        t2 = (hi - origin) / dirs
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    return near, far


def render_view(eye: np.ndarray, target: np.ndarray, spec: SampleSpec, textures: list[np.ndarray]) -> np.ndarray:
    """One RGB uint8 image: nearest hit among the boxes, the floor and the room walls."""
    import cv2

    h, w = spec.height, spec.width
    focal = 0.9 * w
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cam = np.stack([(xs + 0.5 - w / 2) / focal, (ys + 0.5 - h / 2) / focal, np.ones_like(xs)], axis=-1)
    dirs = cam @ _look_at(eye, target).T
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)

    best_t = np.full((h, w), np.inf)
    surface = np.full((h, w), -1, np.int32)
    # Room walls from inside: the exit distance of the room box.
    _, far = _slab(eye, dirs, np.full(3, -ROOM), np.full(3, ROOM))
    best_t, surface = np.where(far > 0, far, best_t), np.where(far > 0, 0, surface)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = (FLOOR - eye[1]) / dirs[..., 1]
    hit = (t_floor > 1e-6) & (t_floor < best_t)
    best_t, surface = np.where(hit, t_floor, best_t), np.where(hit, 1, surface)
    for index, (centre, half) in enumerate(BOXES):
        c, s = np.array(centre), np.array(half)
        near, far_box = _slab(eye, dirs, c - s, c + s)
        hit = (near <= far_box) & (near > 1e-6) & (near < best_t)
        best_t, surface = np.where(hit, near, best_t), np.where(hit, 2 + index, surface)

    points = eye + dirs * best_t[..., None]
    image = np.zeros((h, w, 3), np.float32)
    for index, texture in enumerate(textures):
        mask = surface == index
        if not mask.any():
            continue
        p = points[mask]
        if index == 0:  # walls: project on the two axes of the wall that was hit
            axis = np.argmax(np.abs(p) / ROOM, axis=1)
            u = np.where(axis == 0, p[:, 2], p[:, 0])
            v = np.where(axis == 1, p[:, 2], p[:, 1])
            u = u + axis * 2.0 * ROOM  # a different part of the texture per wall axis
            scale = 1.0 / (4.0 * ROOM)
        elif index == 1:
            u, v, scale = p[:, 0], p[:, 2], 1.0 / (2.0 * ROOM)
        else:
            centre = np.array(BOXES[index - 2][0])
            q = p - centre
            axis = np.argmax(np.abs(q) / np.array(BOXES[index - 2][1]), axis=1)
            u = np.where(axis == 0, q[:, 2], q[:, 0]) + axis * 1.3
            v = np.where(axis == 1, q[:, 2], q[:, 1])
            scale = 0.5
        size = texture.shape[0]
        map_x = ((u * scale) % 1.0 * (size - 1)).astype(np.float32).reshape(-1, 1)
        map_y = ((v * scale) % 1.0 * (size - 1)).astype(np.float32).reshape(-1, 1)
        colours = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP).reshape(-1, 3)
        shade = 0.75 + 0.25 * np.clip(-dirs[mask][:, 1] * 0.5 + 0.5, 0, 1)  # a little view-dependent light
        image[mask] = colours * shade[:, None]
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def render_views(spec: SampleSpec = SampleSpec()) -> list[np.ndarray]:
    rng = np.random.default_rng(spec.seed)
    textures = [_texture(rng) for _ in range(2 + len(BOXES))]
    views = []
    for i in range(spec.views):
        angle = np.radians(spec.arc_degrees) * i / max(1, spec.views - 1)
        height = -0.2 + 0.25 * np.sin(2 * angle)
        eye = np.array([spec.radius * np.cos(angle), height, spec.radius * np.sin(angle)])
        views.append(render_view(eye, np.array([0.0, -0.6, 0.0]), spec, textures))
    return views


def write_sample(path: str | Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Write the sample as a .zip of JPEGs (`images/0000.jpg`, ...) or an .mp4 video."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    views = render_views(spec)
    part = path.with_name(f".{path.name}.part")
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as archive:
            for i, view in enumerate(views):
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(view, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                assert ok
                archive.writestr(f"images/{i:04d}.jpg", io.BytesIO(data.tobytes()).getvalue())
    elif path.suffix.lower() in (".mp4", ".mov"):
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        writer = cv2.VideoWriter(str(part) + path.suffix, fourcc, 10, (spec.width, spec.height))
        for view in views:
            writer.write(cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        writer.release()
        part = Path(str(part) + path.suffix)
    else:
        raise ValueError(f"write a .zip or an .mp4, not {path.suffix!r}")
    part.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="out.zip (images) or out.mp4 (video)")
    parser.add_argument("--views", type=int, default=SampleSpec.views)
    parser.add_argument("--width", type=int, default=SampleSpec.width)
    parser.add_argument("--height", type=int, default=SampleSpec.height)
    args = parser.parse_args(argv)
    path = write_sample(args.output, SampleSpec(views=args.views, width=args.width, height=args.height))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
