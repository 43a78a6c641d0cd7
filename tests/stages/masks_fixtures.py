"""Frames and stand-in U^2-Net weights for the masks-stage tests (see onnx_models.py for the models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gs_stages.cli import run_stage
from gs_stages.jobspec import JobSpec
from gs_stages.layout import IMAGES_DIR

from .jobs import make_spec
from .onnx_models import saliency_model

WIDTH, HEIGHT = 640, 480


def ramp_frame(seed: int = 0, reverse_blue: bool = True) -> np.ndarray:
    """(H, W, 3) RGB: red rises 0 -> 255 left to right, blue falls (or noise), green is noise.

    With a stand-in model whose saliency is the red channel, the mask is every column right of
    maskThreshold of the width: the threshold's effect can be read off as a column index.
    """
    rng = np.random.default_rng(seed)
    x = np.arange(WIDTH) / (WIDTH - 1)
    frame = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[..., 0] = np.round(255 * x)[None, :]
    if reverse_blue:
        frame[..., 2] = np.round(255 * (1 - x))[None, :]
    return frame


def write_frames(frames_dir: Path, frames: list[np.ndarray], suffix: str = ".png") -> list[str]:
    """RGB frames as the frames stage's images/000000<suffix>... (PNG: lossless, so channels stay exact)."""
    (frames_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    names = []
    for index, rgb in enumerate(frames):
        name = f"{index:06d}{suffix}"
        cv2.imwrite(str(frames_dir / IMAGES_DIR / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        names.append(name)
    return names


def weights_dir(directory: Path, side: int | str = 320, human: bool = True) -> Path:
    """u2net.onnx (saliency = red) and u2net_human_seg.onnx (saliency = blue) in one folder."""
    saliency_model(directory / "u2net.onnx", "red", side)
    if human:
        saliency_model(directory / "u2net_human_seg.onnx", "blue", side)
    return directory


def segmentation_spec(**segmentation: Any) -> JobSpec:
    """A job with segmentation.<key> = value for each keyword (JSON names, e.g. removeBackground=True)."""
    return make_spec(**{f"segmentation.{key}": value for key, value in segmentation.items()})


def run_masks(spec: JobSpec, frames_dir: Path, output: Path, **settings: Any) -> dict[str, Any]:
    return run_stage("masks", spec, {"frames": frames_dir}, output, settings)


def read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask
