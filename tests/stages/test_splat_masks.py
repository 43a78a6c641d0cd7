"""Background removal: with masks, the removed background trains to transparent, the object stays."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gs_stages.cli import run_stage
from gs_stages.splat.scene import load_scene

from .jobs import COMPILED, make_spec
from .splat_scenes import make_scene, render_splat

STEPS = 150
OVERRIDES = {"num_downscales": 0, "warmup_length": 50, "refine_every": 25}


def test_masked_background_renders_transparent(tmp_path) -> None:
    scene = make_scene(tmp_path / "scene", masks=True)
    spec = make_spec(**{"training.maxSteps": STEPS})
    settings = {"device": "cpu", **COMPILED, "image_downscale": 1, "preset_overrides": OVERRIDES}
    inputs = {"frames": scene.frames, "sparse_model": scene.sparse, "masks": scene.masks}
    metrics = run_stage("splat", spec, inputs, tmp_path / "splat", settings)
    assert metrics["masks"] is True

    views = load_scene(scene.frames, scene.sparse, scene.masks, 1)
    background, foreground = [], []
    for view in views.views:
        _, alpha = render_splat(tmp_path / "splat" / "splat.ply", view)
        # The object's soft edge legitimately spills a pixel or two past the thresholded mask:
        # judge the background and the object away from that edge.
        keep = (view.mask > 127).float()[None, None]
        inner = -F.max_pool2d(-keep, 5, stride=1, padding=2)[0, 0] > 0.5  # eroded by 2 px
        outer = F.max_pool2d(keep, 5, stride=1, padding=2)[0, 0] < 0.5  # background, 2 px away
        background.append(alpha[outer])
        foreground.append(alpha[inner])
    background, foreground = torch.cat(background), torch.cat(foreground)
    assert background.mean() < 0.01 and torch.quantile(background, 0.99) < 0.05
    assert foreground.mean() > 0.98
    assert metrics["psnr"] >= 25.0  # held-out views against the photo with its background removed
