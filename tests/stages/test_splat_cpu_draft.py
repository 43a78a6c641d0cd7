"""A CPU draft delivers: "auto" downscaling aims at a smaller training size on a CPU than on CUDA, and the
held-out PSNR check blocks only a broken splat (ERROR) and warns on a weak one (WARN)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gs_stages.quality_checks import evaluate_check
from gs_stages.splat.scene import load_scene
from gs_stages.splat.settings import CPU_MAX_SIDE, GPU_MAX_SIDE, EngineSettings
from gs_stages.stage import StageError, check_settings

from .splat_scenes import make_scene

BARS = {"min_psnr": 12.0, "warn_psnr": 20.0}


@pytest.mark.parametrize(
    ("psnr", "passed", "severity", "words"),
    [
        (8.5, False, "ERROR", "under the 12.00 dB minimum: the splat is broken"),
        (15.2, False, "WARN", "a weak result, delivered"),
        (26.0, True, "ERROR", "held-out PSNR 26.00 dB"),
    ],
)
def test_psnr_bars(tmp_path: Path, psnr: float, passed: bool, severity: str, words: str) -> None:
    outcome = evaluate_check("splat", "heldout_psnr", tmp_path, {"psnr": psnr}, BARS)
    assert (outcome.passed, outcome.severity) == (passed, severity)
    assert words in outcome.description
    assert outcome.metadata == {"psnr": psnr, **BARS}


def test_a_warning_bar_under_the_minimum_means_no_warning(tmp_path: Path) -> None:
    outcome = evaluate_check("splat", "heldout_psnr", tmp_path, {"psnr": 11.0}, {"min_psnr": 10, "warn_psnr": 5})
    assert outcome.passed and outcome.metadata["warn_psnr"] == 10


def test_training_size_follows_the_device() -> None:
    auto = EngineSettings.from_mapping({})
    assert (auto.max_side_on("cpu"), auto.max_side_on("cuda")) == (CPU_MAX_SIDE, GPU_MAX_SIDE) == (640, 1600)
    assert EngineSettings.from_mapping({"train_max_side": 960}).max_side_on("cpu") == 960
    check_settings({"train_max_side": 960})  # a name the chain accepts
    with pytest.raises(StageError, match="train_max_side must be 'auto' or an integer >= 16"):
        EngineSettings.from_mapping({"train_max_side": "big"})


def test_auto_downscale_reaches_the_devices_size(tmp_path: Path) -> None:
    synthetic = make_scene(tmp_path / "scene", n_cameras=9, width=96, height=54)
    assert load_scene(synthetic.frames, synthetic.sparse, max_side=1600).downscale == 1
    assert load_scene(synthetic.frames, synthetic.sparse, max_side=48).downscale == 2
    scene = load_scene(synthetic.frames, synthetic.sparse, max_side=40)  # 96 / 40: the next power of two is 4
    assert scene.downscale == 4 and (scene.train[0].width, scene.train[0].height) == (24, 14)  # 13.5 rounds up
