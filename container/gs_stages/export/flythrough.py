"""`<name>.mp4` (a fly-through along the capture cameras) and `<name>.png` (a thumbnail), rendered by our
renderer: gsplat on CUDA, the PyTorch rasterizer on a CPU (`gs_stages.splat.backend`).

Frames are streamed to ffmpeg (the binary `imageio-ffmpeg` ships, H.264 in yuv420p with the moov atom
first, so browsers play it while it downloads) as they are rendered: the encoder works while the next
frame renders and no frame is kept. The thumbnail is the first capture camera's view, the start of the
path (`camera_path`), so it shows the object as the user framed it.

Engine settings of the spz stage (defaults by device: a CPU renders 3 s small, a GPU 10 s 1080p):
* `flythrough` = true: write the .mp4 (false: skip it; the .ply/.spz do not depend on it).
* `flythrough_seconds` (CPU 3, GPU 10), `flythrough_fps` (CPU 8, GPU 30), `flythrough_long_side`
  (pixels, CPU 256, GPU 1920). The CPU defaults keep the PyTorch rasterizer's share of a CPU draft small
  (24 frames; docs/BENCHMARKS.md "Outputs of the spz stage").
* `thumbnail` = true, `thumbnail_long_side` = 512 (CPU 320).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from gs_stages.export.camera_path import PathFrame, smooth_path
from gs_stages.export.settings import ExportSettings
from gs_stages.gaussians import Gaussians

BACKGROUND = (0.0, 0.0, 0.0)
T = TypeVar("T")


@dataclass(frozen=True)
class MediaSettings:
    flythrough: bool
    seconds: float
    fps: int
    long_side: int
    thumbnail: bool
    thumbnail_long_side: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], device: torch.device) -> MediaSettings:
        """The spz stage's media settings (export/settings.py), unset sizes taking the device's defaults."""
        given = ExportSettings.from_mapping(settings)
        gpu = device.type == "cuda"

        def pick(value: T | None, on_gpu: T, on_cpu: T) -> T:
            return value if value is not None else on_gpu if gpu else on_cpu

        return cls(
            flythrough=given.flythrough,
            seconds=pick(given.flythrough_seconds, 10.0, 3.0),
            fps=pick(given.flythrough_fps, 30, 8),
            long_side=pick(given.flythrough_long_side, 1920, 256),
            thumbnail=given.thumbnail,
            thumbnail_long_side=pick(given.thumbnail_long_side, 512, 320),
        )

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


class FrameRenderer:
    """The splat on `device`, rendered from any `PathFrame` to (H, W, 3) uint8."""

    def __init__(self, g: Gaussians, device: torch.device, backend: str = "auto"):
        from gs_stages.splat.backend import pick_renderer

        self.backend, self.rasterize = pick_renderer(backend, device)
        self.device = device

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)

        self.means, self.quats, self.sh = put(g.means), put(g.quats), put(g.sh)
        self.scales, self.opacities = torch.exp(put(g.scales)), torch.sigmoid(put(g.opacities))
        self.degree = g.degree
        self.background = torch.tensor([BACKGROUND], dtype=torch.float32, device=device)

    @torch.no_grad()
    def render(self, frame: PathFrame) -> np.ndarray:
        rgb, _, _ = self.rasterize(
            self.means,
            self.quats,
            self.scales,
            self.opacities,
            self.sh,
            torch.as_tensor(frame.world_to_camera, dtype=torch.float32, device=self.device)[None],
            torch.as_tensor(frame.K, dtype=torch.float32, device=self.device)[None],
            frame.width,
            frame.height,
            sh_degree=self.degree,
            backgrounds=self.background,
        )
        return (rgb[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def write_thumbnail(path: Path, renderer: FrameRenderer, cameras: list[dict[str, Any]], long_side: int) -> Path:
    """The first capture camera's view as a PNG, `long_side` pixels on its longer side."""
    import cv2

    (frame,) = smooth_path(cameras, 1, long_side)
    image = renderer.render(frame)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def write_flythrough(
    path: Path, renderer: FrameRenderer, cameras: list[dict[str, Any]], settings: MediaSettings
) -> dict[str, Any]:
    """Render and encode the fly-through; its size, frame count and timings."""
    import imageio_ffmpeg

    frames = smooth_path(cameras, settings.frames, settings.long_side)
    width, height = frames[0].width, frames[0].height
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=settings.fps,
        codec="libx264",
        quality=None,
        macro_block_size=2,
        output_params=["-preset", "veryfast", "-crf", "20", "-movflags", "+faststart"],
    )
    writer.send(None)
    render_s = 0.0
    started = time.perf_counter()
    try:
        for frame in frames:
            t = time.perf_counter()
            image = renderer.render(frame)
            render_s += time.perf_counter() - t
            writer.send(np.ascontiguousarray(image))
    finally:
        writer.close()
    return {
        "flythrough_file": path.name,
        "flythrough_bytes": path.stat().st_size,
        "flythrough_frames": len(frames),
        "flythrough_fps": settings.fps,
        "flythrough_size": [width, height],
        "flythrough_render_seconds": round(render_s, 3),
        "flythrough_seconds_total": round(time.perf_counter() - started, 3),
    }
