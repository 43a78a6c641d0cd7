"""Synthetic 360° input with known geometry, numpy only: direction fields and a ray-cast textured room.

Directions follow the frames stage's documented convention (x right, y down, z forward; the centre
of an equirectangular image looks along +z, its right quarter along +x, its top row up), written
out here independently of gs_stages so that a mistake there cannot cancel out.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

Vector = tuple[float, float, float]
_H = float(np.sqrt(0.5))
#: Each view as (forward, image right, image down) unit vectors in the equirect frame.
VIEW_BASES: dict[str, tuple[Vector, Vector, Vector]] = {
    "front": ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    "right": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    "back": ((0, 0, -1), (-1, 0, 0), (0, 1, 0)),
    "left": ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    "up": ((0, -1, 0), (1, 0, 0), (0, 0, 1)),  # looking up, the image bottom is towards the front
    "down": ((0, 1, 0), (1, 0, 0), (0, 0, -1)),  # looking down, the image top is towards the front
    # Connecting views: halfway between two side faces, turned right by 45°, 135°, 225°, 315°.
    "front-right": ((_H, 0, _H), (_H, 0, -_H), (0, 1, 0)),
    "right-back": ((_H, 0, -_H), (-_H, 0, -_H), (0, 1, 0)),
    "back-left": ((-_H, 0, -_H), (-_H, 0, _H), (0, 1, 0)),
    "left-front": ((-_H, 0, _H), (_H, 0, _H), (0, 1, 0)),
}


def equirect_directions(width: int, height: int) -> np.ndarray:
    """(H, W, 3) unit ray of each equirect pixel centre."""
    longitude = (np.arange(width) + 0.5) / width * 2 * np.pi - np.pi
    latitude = np.pi / 2 - (np.arange(height) + 0.5) / height * np.pi
    lon, lat = np.meshgrid(longitude, latitude)
    return np.stack([np.cos(lat) * np.sin(lon), -np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)


def view_directions(view: str, size: int) -> np.ndarray:
    """(size, size, 3) unit ray of each pixel centre of a 90° view (f = size / 2, centred)."""
    forward, right, down = (np.array(v, dtype=float) for v in VIEW_BASES[view])
    offsets = (np.arange(size) + 0.5) / (size / 2) - 1.0
    xs, ys = np.meshgrid(offsets, offsets)
    rays = forward + xs[..., None] * right + ys[..., None] * down
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def direction_colour(rays: np.ndarray) -> np.ndarray:
    """A smooth colour of the direction: each channel an affine function of one ray coordinate."""
    return (127.5 * (1.0 + rays)).astype(np.float32)


@dataclass(frozen=True)
class Room:
    """An axis-aligned box, textured inside; y points down (the floor is at `high[1]`)."""

    low: tuple[float, float, float] = (-3.2, -1.4, -2.6)
    high: tuple[float, float, float] = (2.9, 1.5, 3.4)
    texels: int = 512
    seed: int = 3

    def textures(self) -> list[np.ndarray]:
        """One texture per wall: random blocks at four scales (corners and blobs for SIFT), tinted."""
        rng = np.random.default_rng(self.seed)
        walls = []
        for _ in range(6):
            grey = np.zeros((self.texels, self.texels))
            for block, weight in ((4, 0.2), (8, 0.3), (16, 0.3), (32, 0.2)):
                cells = rng.random((self.texels // block, self.texels // block))
                grey += weight * np.kron(cells, np.ones((block, block)))
            tint = 0.5 + 0.5 * rng.random(3)
            walls.append((255 * grey[..., None] * tint).astype(np.float32))
        return walls


def render_equirect(room: Room, textures: list[np.ndarray], centre: np.ndarray, world_from_cam: np.ndarray,
                    width: int, supersample: int = 2) -> np.ndarray:  # fmt: skip
    """(H, W, 3) uint8 RGB equirect image seen from `centre`, nearest texel, box-filtered supersampling."""
    height = width // 2
    rays = equirect_directions(width * supersample, height * supersample) @ world_from_cam.T
    low, high = np.array(room.low), np.array(room.high)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Inside the box each ray leaves through the wall its direction points at on each axis.
        bounds = np.where(rays > 0, high, low)
        distance = (bounds - centre) / rays
    distance = np.where(np.isfinite(distance) & (distance > 0), distance, np.inf)
    axis = np.argmin(distance, axis=-1)
    hit = centre + rays * np.take_along_axis(distance, axis[..., None], axis=-1)
    wall = axis * 2 + (np.take_along_axis(rays, axis[..., None], axis=-1)[..., 0] > 0)
    image = np.zeros(hit.shape, dtype=np.float32)
    for index, texture in enumerate(textures):
        selected = wall == index
        plane = [a for a in range(3) if a != index // 2]
        uv = (hit[selected][:, plane] - low[plane]) / (high[plane] - low[plane])
        texel = np.clip((uv * room.texels).astype(int), 0, room.texels - 1)
        image[selected] = texture[texel[:, 1], texel[:, 0]]
    image = image.reshape(height, supersample, width, supersample, 3).mean(axis=(1, 3))
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def yaw_rotation(degrees: float) -> np.ndarray:
    """world_from_cam turning the camera right by `degrees` about the down axis."""
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])


def camera_path(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre, world_from_cam) along a bent walk through the room, turning 12° per frame."""
    steps = np.linspace(0.0, 1.0, count)
    centres = np.stack([-1.2 + 2.2 * steps, 0.15 * np.sin(3 * steps), -0.6 + 1.2 * steps**2], axis=-1)
    return [(centre, yaw_rotation(12.0 * i)) for i, centre in enumerate(centres)]


def write_equirect_zip(path: Path, frames: list[np.ndarray]) -> None:
    """The frames as lossless PNGs in a zip, as a user would upload a set of 360° photos."""
    with zipfile.ZipFile(path, "w") as archive:
        for index, frame in enumerate(frames):
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, "PNG")
            archive.writestr(f"pano/{index:03d}.png", buffer.getvalue())
