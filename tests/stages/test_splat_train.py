"""End to end through `run(ctx)`: a synthetic scene with known cameras trains to a good held-out PSNR."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from gs_stages.cli import run_stage
from gs_stages.export.ply import read_ply
from gs_stages.splat.metrics import ssim_separable
from gs_stages.splat.settings import EngineSettings
from gs_stages.splat.train import pick_ssim
from gs_stages.stage import StageError

from .jobs import make_spec
from .splat_scenes import make_scene

STEPS = 150
#: Full resolution from the start (the default coarse-to-fine schedule would spend every step at 1/4
#: resolution), and refinement early enough to happen within the run (at step 100).
OVERRIDES = {"num_downscales": 0, "warmup_length": 50, "refine_every": 50}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("splat-train")
    scene = make_scene(root / "scene")
    spec = make_spec(**{"training.maxSteps": STEPS})
    settings = {"device": "cpu", "backend": "auto", "image_downscale": 1, "preset_overrides": OVERRIDES}
    output = root / "splat"
    metrics = run_stage("splat", spec, {"frames": scene.frames, "sparse_model": scene.sparse}, output, settings)
    return output, metrics


def test_held_out_psnr_reaches_25_db(trained: tuple[Path, dict]) -> None:
    _, metrics = trained
    assert metrics["backend"] == "cpu" and metrics["device"] == "cpu"  # auto without CUDA: the compiled rasterizer
    assert metrics["steps"] == STEPS
    assert metrics["test_views"] == 3 and metrics["train_views"] == 21  # every 8th of 24 held out
    assert metrics["psnr"] >= 25.0, metrics["per_view"]
    assert metrics["ssim"] > 0.8
    assert metrics["num_gaussians"] != 3000  # densification ran (3000 SfM points to start with)


def test_outputs_splat_preview_and_metrics(trained: tuple[Path, dict]) -> None:
    output, metrics = trained
    gaussians = read_ply(output / "splat.ply")
    assert len(gaussians) == metrics["num_gaussians"] and gaussians.degree == metrics["sh_degree"]
    preview = cv2.imread(str(output / "preview.png"))
    assert preview.shape[1] <= 1024 and preview.shape[0] == 3 * 72 and preview.shape[1] == 2 * 96
    written = json.loads((output / "metrics.json").read_text())
    assert written["psnr"] == pytest.approx(metrics["psnr"])
    assert written["lpips"] is None and "lpips_weights" in written["lpips_absent_reason"]
    assert written["peak_memory_kind"] == "process_peak_rss" and written["peak_memory_bytes"] > 0
    assert written["train_seconds"] > 0


def test_ssim_setting_picks_the_torch_ssim_on_cpu_and_refuses_fused_there() -> None:
    cpu = torch.device("cpu")
    assert pick_ssim("torch", cpu) is ssim_separable  # "auto": the compiled one (test_ssim_cpu.py)
    with pytest.raises(StageError, match="fused"):
        pick_ssim("fused", cpu)
    with pytest.raises(StageError, match="optimizer must be adam, fused_adam or selective_adam"):
        EngineSettings.from_mapping({"optimizer": "sgd"})
