"""removeHumanSubject: what runs, what is refused and why, and the "ignore" masks' layout.

People are to be left out of training (not trained transparent, which 0 in masks/ means): the stage
writes ignore/<stem>.png from u2net_human_seg.onnx, which the splat loader turns into invalid pixels
(tests/stages/test_splat_ignore.py shows what that buys).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gs_stages.layout import IGNORE_DIR, MASKS_DIR, MASKS_JSON
from gs_stages.stage import StageError

from .jobs import make_spec
from .masks_fixtures import WIDTH, ramp_frame, read_mask, run_masks, segmentation_spec, weights_dir, write_frames


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    write_frames(tmp_path / "frames", [ramp_frame(0), ramp_frame(1)])
    return tmp_path / "frames"


def test_human_removal_writes_ignore_masks(frames: Path, tmp_path: Path) -> None:
    weights = weights_dir(tmp_path / "w")  # the human stand-in's saliency is blue: high on the left
    spec = segmentation_spec(removeHumanSubject=True, removeBackground=True, maskThreshold=0.6)
    metrics = run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights))

    for stem in ("000000", "000001"):
        person = read_mask(tmp_path / "out" / IGNORE_DIR / f"{stem}.png")[0]
        obj = read_mask(tmp_path / "out" / MASKS_DIR / f"{stem}.png")[0]
        assert person[0] == 255 and abs(int((person == 255).sum()) - 0.4 * WIDTH) <= 4  # left 40 %
        assert obj[-1] == 255 and abs(int((obj == 255).sum()) - 0.4 * WIDTH) <= 4  # right 40 % (red)
    config = json.loads((tmp_path / "out" / MASKS_JSON).read_text())
    assert config["enabled"] is True
    assert config["keep"]["model"] == "u2net" and config["ignore"]["model"] == "u2net-human"
    assert config["ignore"]["dir"] == IGNORE_DIR and config["ignore"]["weights"].endswith("u2net_human_seg.onnx")
    assert config["per_frame"][0]["ignored_fraction"] == pytest.approx(0.4, abs=0.01)
    assert metrics["human_removal"] is True and metrics["ignored_fraction_mean"] == pytest.approx(0.4, abs=0.01)

    # People only: no object masks (enabled stays false for today's readers), only ignore/.
    run_masks(
        segmentation_spec(removeHumanSubject=True), frames, tmp_path / "people", segmentation_weights=str(weights)
    )
    config = json.loads((tmp_path / "people" / MASKS_JSON).read_text())
    assert config["enabled"] is False and "keep" not in config and "ignore" in config
    assert (
        not (tmp_path / "people" / MASKS_DIR).exists() and (tmp_path / "people" / IGNORE_DIR / "000001.png").is_file()
    )


def test_human_removal_with_the_human_model_as_object_is_contradictory(frames: Path, tmp_path: Path) -> None:
    spec = segmentation_spec(removeHumanSubject=True, removeBackground=True, backgroundRemovalModel="u2net-human")
    with pytest.raises(StageError, match="would remove the object itself"):
        run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w")))


def test_without_segmentation_frames_pass_through(frames: Path, tmp_path: Path) -> None:
    metrics = run_masks(make_spec(), frames, tmp_path / "out")
    assert metrics["masks_enabled"] is False and metrics["frames"] == 2
    assert json.loads((tmp_path / "out" / MASKS_JSON).read_text()) == {"enabled": False, "frames": 2}
    assert not (tmp_path / "out" / MASKS_DIR).exists()
