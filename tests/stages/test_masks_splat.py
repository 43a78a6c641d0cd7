"""The splat stage's loader reads what the masks stage writes: same names, sizes and 0/255 values."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gs_stages.layout import IMAGES_DIR
from gs_stages.splat.scene import load_scene

from .masks_fixtures import run_masks, segmentation_spec, weights_dir
from .splat_scenes import make_scene


def test_load_scene_reads_the_masks_stage_output(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=4, width=96, height=72)
    out = tmp_path / "masks"
    spec = segmentation_spec(removeBackground=True, maskThreshold=0.5)
    metrics = run_masks(spec, scene.frames, out, segmentation_weights=str(weights_dir(tmp_path / "w", human=False)))
    assert metrics["frames"] == 4

    loaded = load_scene(scene.frames, scene.sparse, out, downscale=1, test_every=8)
    assert loaded.masks_enabled and len(loaded.views) == 4
    for view in loaded.views:
        assert view.mask is not None and view.mask.dtype == torch.uint8
        assert tuple(view.mask.shape) == (view.height, view.width) == (72, 96)
        written = cv2.imread(str(out / "masks" / (Path(view.name).stem + ".png")), cv2.IMREAD_GRAYSCALE)
        assert torch.equal(view.mask, torch.from_numpy(written))  # PINHOLE, no downscale: read as written
        assert set(np.unique(written)) == {0, 255}
        # The stand-in's saliency is the red channel: the kept pixels are the redder ones.
        red = cv2.imread(str(scene.frames / IMAGES_DIR / view.name))[..., 2].astype(np.float32)
        assert red[written == 255].mean() > red[written == 0].mean() + 20
