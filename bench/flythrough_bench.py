"""What the fly-through and thumbnail add to a job: render + encode time of `<name>.mp4` and `<name>.png`.

Runs the spz stage's own code (gs_stages.export.flythrough: the smoothed camera path, our renderer, the
ffmpeg encoder) on a synthetic splat shaped like a trained one (N Gaussians of small log-scales in a
ball, SH degree 3) seen by capture cameras on a wobbly circle, as a phone orbit gives. Prints one JSON
record and writes it to $OUT/flythrough_bench.json when $OUT is set.

    # CPU, this machine (the CPU defaults of the stage: 3 s, 8 fps, 256 px):
    PYTHONPATH=$PWD:$PWD/container .venv/bin/python bench/flythrough_bench.py --gaussians 100000
    # CUDA (issue #14's target: 10 s 1080p of a 1 M-Gaussian splat in under 30 s):
    PYTHONPATH=$PWD:$PWD/container python3 bench/flythrough_bench.py --gaussians 1000000 \
        --seconds 10 --fps 30 --long-side 1920 --device cuda

Without imageio-ffmpeg (the GPU host's image lacks it and its 68 MB wheel does not fit a device call's
carry), the frames are encoded with OpenCV's MPEG-4 Part 2 writer instead and the record says so:
the render time is ours either way; libx264 "veryfast" encodes 1080p at a few ms a frame on 16 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from gs_stages.export.camera_path import smooth_path
from gs_stages.export.cameras import camera_entry
from gs_stages.export.flythrough import FrameRenderer, MediaSettings, write_flythrough, write_thumbnail
from gs_stages.gaussians import Gaussians
from gs_stages.splat.backend import pick_device


def synthetic_splat(n: int, degree: int, seed: int = 0) -> Gaussians:
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, 3))
    means = direction / np.linalg.norm(direction, axis=1, keepdims=True) * rng.uniform(0, 1, (n, 1)) ** (1 / 3)
    quats = rng.normal(size=(n, 4))
    sh = np.zeros((n, (degree + 1) ** 2, 3), dtype=np.float32)
    sh[:, 0] = rng.normal(0, 1, (n, 3))
    sh[:, 1:] = rng.normal(0, 0.1, (n, sh.shape[1] - 1, 3))
    return Gaussians(
        means=means.astype(np.float32),
        scales=rng.normal(-4.6, 0.5, (n, 3)).astype(np.float32),  # ~1 cm in a 2 m scene, as trained splats
        quats=(quats / np.linalg.norm(quats, axis=1, keepdims=True)).astype(np.float32),
        opacities=rng.normal(1.0, 1.5, n).astype(np.float32),
        sh=sh,
    )


def orbit_cameras(count: int, width: int = 1920, height: int = 1080) -> list[dict]:
    focal = 0.5 * width / math.tan(math.radians(30))
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    cameras = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        eye = np.array([3 * math.cos(angle), 0.3 * math.sin(5 * angle), 3 * math.sin(angle)])
        forward = -eye / np.linalg.norm(eye)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        w2c = np.eye(4)
        w2c[:3, :3] = np.stack([right, down, forward])
        w2c[:3, 3] = -w2c[:3, :3] @ eye
        cameras.append(camera_entry(f"{i:06d}.jpg", w2c, K, width, height))
    return cameras


def _opencv_flythrough(path: Path, renderer: FrameRenderer, cameras: list[dict], s: MediaSettings) -> dict:
    import cv2

    frames = smooth_path(cameras, s.frames, s.long_side)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), s.fps, (frames[0].width, frames[0].height))
    render_s, started = 0.0, time.perf_counter()
    for frame in frames:
        t = time.perf_counter()
        image = renderer.render(frame)
        render_s += time.perf_counter() - t
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return {
        "flythrough_frames": len(frames),
        "flythrough_size": [frames[0].width, frames[0].height],
        "flythrough_render_seconds": round(render_s, 3),
        "flythrough_seconds_total": round(time.perf_counter() - started, 3),
        "flythrough_bytes": path.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaussians", type=int, default=100_000)
    parser.add_argument("--sh-degree", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--fps", type=int)
    parser.add_argument("--long-side", type=int)
    parser.add_argument("--cameras", type=int, default=60)
    args = parser.parse_args()

    device = pick_device(args.device)
    settings = {"flythrough_seconds": args.seconds, "flythrough_fps": args.fps, "flythrough_long_side": args.long_side}
    media = MediaSettings.from_settings({k: v for k, v in settings.items() if v is not None}, device)
    out = Path(os.environ.get("OUT", "/tmp/flythrough_bench"))
    out.mkdir(parents=True, exist_ok=True)
    g = synthetic_splat(args.gaussians, args.sh_degree)
    cameras = orbit_cameras(args.cameras)

    started = time.perf_counter()
    renderer = FrameRenderer(g, device)
    upload_s = time.perf_counter() - started
    renderer.render(smooth_path(cameras, 1, 64)[0])  # warm-up: CUDA context, gsplat's JIT kernels
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    write_thumbnail(out / "thumb.png", renderer, cameras, media.thumbnail_long_side)
    thumbnail_s = time.perf_counter() - t
    try:
        import imageio_ffmpeg  # noqa: F401

        encoder = "libx264 veryfast crf 20 (imageio-ffmpeg), as the stage"
        result = write_flythrough(out / "fly.mp4", renderer, cameras, media)
    except ImportError:
        encoder = "OpenCV mp4v (imageio-ffmpeg not installed here; not the stage's encoder)"
        result = _opencv_flythrough(out / "fly.mp4", renderer, cameras, media)
    record = {
        "gaussians": args.gaussians,
        "sh_degree": args.sh_degree,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "renderer": renderer.backend,
        "encoder": encoder,
        "seconds": media.seconds,
        "fps": media.fps,
        "upload_s": round(upload_s, 3),
        "thumbnail_s": round(thumbnail_s, 3),
        **result,
        "ms_per_frame_render": round(1000 * result["flythrough_render_seconds"] / result["flythrough_frames"], 2),
    }
    print(json.dumps(record, indent=1))
    (out / "flythrough_bench.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
