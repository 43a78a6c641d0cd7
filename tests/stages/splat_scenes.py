"""Synthetic scenes for the splat tests: a known Gaussian cloud photographed by known cameras.

A textured ball (the "object") inside a textured shell (the "room"), both made of Gaussians, is
rendered with the PyTorch rasterizer from cameras on a circle looking at the ball. The renders are
written as the frames layout (JPEG), the cameras as a COLMAP model (pycolmap), and the 3D points as
the Gaussians' centres plus noise, as SfM would give them. With `masks=True` the masks layout is
written too: 255 on the ball, 0 on the room. Because the truth is itself a splat, a trainer that
works must be able to reproduce held-out views closely.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import torch

from gs_stages.gaussians import SH_C0
from gs_stages.splat.render_torch import rasterization


@dataclass
class SyntheticScene:
    frames: Path
    sparse: Path
    masks: Path | None
    names: list[str]
    width: int
    height: int


def fibonacci_sphere(n: int, radius: float) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return radius * np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera 4x4 (OpenCV axes) for a camera at `position` looking at `target`, z up."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    viewmat = np.eye(4)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = -rotation @ position
    return viewmat


def ground_truth(n_object: int = 1200, n_room: int = 1800, seed: int = 0) -> dict[str, torch.Tensor]:
    """Activated Gaussian parameters; colours are smooth functions of position (learnable from views)."""
    rng = np.random.default_rng(seed)
    obj = fibonacci_sphere(n_object, 0.7)
    room = fibonacci_sphere(n_room, 4.0)
    means = np.concatenate([obj, room])
    rgb = np.concatenate(
        [
            0.5 + 0.4 * np.sin(np.stack([4 * obj[:, 0], 5 * obj[:, 1] + 1, 3 * obj[:, 2] + 2], 1)),
            0.5 + 0.3 * np.sin(np.stack([1.3 * room[:, 2], 1.1 * room[:, 0] + 2, 0.9 * room[:, 1] + 4], 1)),
        ]
    )
    scales = np.concatenate([np.full((n_object, 3), 0.045), np.full((n_room, 3), 0.17)])
    scales *= rng.uniform(0.8, 1.2, size=scales.shape)
    quats = rng.normal(size=(len(means), 4))
    sh = np.zeros((len(means), 1, 3))
    sh[:, 0] = (rgb - 0.5) / SH_C0
    return {
        "means": torch.tensor(means, dtype=torch.float32),
        "quats": torch.tensor(quats, dtype=torch.float32),
        "scales": torch.tensor(scales, dtype=torch.float32),
        "opacities": torch.full((len(means),), 0.95),
        "colors": torch.tensor(sh, dtype=torch.float32),
        "is_object": torch.arange(len(means)) < n_object,
    }


def make_scene(
    root: Path,
    n_cameras: int = 24,
    width: int = 96,
    height: int = 72,
    masks: bool = False,
    point_noise: float = 0.01,
    seed: int = 0,
) -> SyntheticScene:
    root = Path(root)
    frames, sparse = scene_folders(root)
    gt = ground_truth(seed=seed)
    focal = 0.5 * width / math.tan(math.radians(30))  # 60 degree horizontal field of view
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])

    reconstruction = pycolmap.Reconstruction()
    camera = pycolmap.Camera.create_from_model_name(1, "PINHOLE", focal, width, height)
    camera.params = [focal, focal, width / 2, height / 2]
    reconstruction.add_camera_with_trivial_rig(camera)
    names = []
    for i, (name, viewmat) in enumerate(circle_poses(n_cameras)):
        names.append(name)
        rgb, _ = _render(gt, viewmat, K, width, height)
        cv2.imwrite(
            str(frames / "images" / name),
            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 95],
        )
        image = pycolmap.Image(name=name, camera_id=1, image_id=i + 1)
        reconstruction.add_image_with_trivial_frame(image, pycolmap.Rigid3d(viewmat[:3, :4]))
        if masks:
            (root / "masks" / "masks").mkdir(parents=True, exist_ok=True)
            object_only = {k: v[gt["is_object"]] for k, v in gt.items() if k != "is_object"}
            _, object_alpha = _render(object_only, viewmat, K, width, height)
            cv2.imwrite(
                str(root / "masks" / "masks" / f"{i:06d}.png"),
                np.where(object_alpha > 127, 255, 0).astype(np.uint8),
            )

    add_points(reconstruction, gt, seed, point_noise)
    reconstruction.write(str(sparse / "sparse" / "0"))
    if masks:
        (root / "masks" / "masks.json").write_text(json.dumps({"enabled": True}))
    return SyntheticScene(frames, sparse, root / "masks" if masks else None, names, width, height)


def scene_folders(root: Path) -> tuple[Path, Path]:
    """(frames, sparse_model) stage folders under `root`, with their images/ and sparse/0/."""
    frames, sparse = root / "frames", root / "sparse_model"
    (frames / "images").mkdir(parents=True)
    (sparse / "sparse" / "0").mkdir(parents=True)
    return frames, sparse


def circle_poses(n_cameras: int) -> list[tuple[str, np.ndarray]]:
    """(image name, world-to-camera) of cameras on a wavy circle of radius 2.2 looking at the ball."""
    poses = []
    for i in range(n_cameras):
        angle = 2 * math.pi * i / n_cameras
        position = np.array([2.2 * math.cos(angle), 2.2 * math.sin(angle), 0.4 * math.sin(3 * angle)])
        poses.append((f"{i:06d}.jpg", look_at(position, np.zeros(3))))
    return poses


def add_points(reconstruction: pycolmap.Reconstruction, gt: dict[str, torch.Tensor], seed: int, noise: float) -> None:
    """The Gaussians' centres plus noise, in their colours, as the SfM points."""
    rng = np.random.default_rng(seed + 1)
    colours = np.clip((gt["colors"][:, 0].numpy() * SH_C0 + 0.5) * 255, 0, 255).astype(np.uint8)
    for xyz, colour in zip(gt["means"].numpy(), colours, strict=True):
        reconstruction.add_point3D(xyz + rng.normal(scale=noise, size=3), pycolmap.Track(), colour)


def _render(gt: dict[str, torch.Tensor], viewmat: np.ndarray, K: np.ndarray, width: int, height: int):
    with torch.no_grad():
        rgb, alpha, _ = rasterization(
            gt["means"],
            gt["quats"],
            gt["scales"],
            gt["opacities"],
            gt["colors"],
            torch.tensor(viewmat, dtype=torch.float32)[None],
            torch.tensor(K, dtype=torch.float32)[None],
            width,
            height,
            sh_degree=0,
        )
    to_uint8 = (rgb[0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return to_uint8, (alpha[0, ..., 0].numpy() * 255).astype(np.uint8)


def render_gaussians(
    g, viewmat, K, width: int, height: int, dtype: torch.dtype = torch.float32, backgrounds=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """`Gaussians` (log scales, logit opacities, SH) through the torch rasterizer from one camera
    (world-to-camera `viewmat`, intrinsics `K`, arrays or tensors): ((H, W, 3) colour, (H, W) alpha)."""

    def tensor(a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=dtype)

    with torch.no_grad():
        rgb, alpha, _ = rasterization(
            tensor(g.means),
            tensor(g.quats),
            torch.exp(tensor(g.scales)),
            torch.sigmoid(tensor(g.opacities)),
            tensor(g.sh),
            tensor(viewmat)[None],
            tensor(K)[None],
            width,
            height,
            sh_degree=g.degree,
            backgrounds=backgrounds,
        )
    return rgb[0], alpha[0, ..., 0]


def render_splat(ply: Path, view) -> tuple[torch.Tensor, torch.Tensor]:
    """A trained splat.ply rendered at a loaded view over black: ((H, W, 3) colour, (H, W) alpha)."""
    from gs_stages.export.ply import read_ply

    return render_gaussians(read_ply(ply), view.viewmat, view.K, view.width, view.height, backgrounds=torch.zeros(1, 3))
