"""splatfacto-w-light's transient masking: occluders in the training photos do not become floaters.

Every training photo of the ball-in-a-room gets an occluder (a solid rectangle of a random colour at
a random place, about 6 % of the image, as a passer-by would be); the held-out photos are clean.
With the robust mask (`robust.py`) the held-out PSNR must be higher than with it switched off, the
same data, steps and seed otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from .jobs import COMPILED, train_splat
from .splat_scenes import SyntheticScene, make_scene

pytestmark = pytest.mark.slow
STEPS = 200
QUICK = {"num_downscales": 0, "warmup_length": 50, "refine_every": 50, "sh_degree_interval": 1000}


def add_occluders(scene: SyntheticScene, test_every: int = 8, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    for i, name in enumerate(scene.names):
        if i % test_every == 0:
            continue  # held out: clean
        path = scene.frames / "images" / name
        image = cv2.imread(str(path))
        w, h = scene.width // 4, scene.height // 4
        x, y = rng.integers(0, scene.width - w), rng.integers(0, scene.height - h)
        image[y : y + h, x : x + w] = rng.integers(0, 256, 3)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])


def _train(scene: SyntheticScene, output: Path, **overrides: Any) -> dict[str, Any]:
    return train_splat(scene, output, STEPS, {**QUICK, **overrides}, "splatfacto-w-light", **COMPILED)


def test_masking_transients_gives_higher_held_out_psnr(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=16, width=48, height=36)
    add_occluders(scene)
    robust = _train(scene, tmp_path / "robust", robust_mask_start=60)
    plain = _train(scene, tmp_path / "plain", robust_mask_fraction=0.0)
    print(f"held-out PSNR with transient masking {robust['psnr']:.2f} dB, without {plain['psnr']:.2f} dB")
    assert robust["psnr"] > plain["psnr"] + 0.5
