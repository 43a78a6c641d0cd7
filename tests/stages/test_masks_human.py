"""removeHumanSubject and sam2: what runs, what is refused and why, and the "ignore" masks' layout.

People are to be left out of training, which the splat stage's masks cannot say yet (0 there means
"background: train transparent"). The stage refuses until splat/scene.py declares READS_IGNORE_MASKS;
with that flag on (patched here) it writes ignore/<stem>.png from u2net_human_seg.onnx.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gs_stages.splat.scene as scene
from gs_stages.layout import MASKS_DIR, MASKS_JSON
from gs_stages.masks.stage import IGNORE_DIR
from gs_stages.stage import NotAvailableError, StageError

from .jobs import make_spec
from .masks_fixtures import WIDTH, ramp_frame, read_mask, run_masks, segmentation_spec, weights_dir, write_frames


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    write_frames(tmp_path / "frames", [ramp_frame(0), ramp_frame(1)])
    return tmp_path / "frames"


def test_human_removal_is_refused_while_the_splat_stage_cannot_ignore_pixels(
    frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene, "READS_IGNORE_MASKS", False, raising=False)
    weights = str(weights_dir(tmp_path / "w"))
    for spec in (
        segmentation_spec(removeHumanSubject=True),
        segmentation_spec(removeHumanSubject=True, removeBackground=True),
    ):
        out = tmp_path / "out"
        with pytest.raises(NotAvailableError) as error:
            run_masks(spec, frames, out, segmentation_weights=weights)
        message = str(error.value)
        assert message.startswith("human subject removal (segmentation.removeHumanSubject) is not available")
        assert "splat stage cannot ignore pixels" in message and "removeHumanSubject to false" in message
        assert list(out.iterdir()) == []


def test_human_removal_writes_ignore_masks_once_the_splat_stage_reads_them(
    frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene, "READS_IGNORE_MASKS", True, raising=False)
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


def test_sam2_is_refused_clearly(frames: Path, tmp_path: Path) -> None:
    spec = make_spec(
        "media.mp4", **{"segmentation.removeBackground": True, "segmentation.backgroundRemovalModel": "sam2"}
    )
    with pytest.raises(NotAvailableError, match=r"background removal \(sam2\) is not available.*SAM 2 video"):
        run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w")))
    assert list((tmp_path / "out").iterdir()) == []


def test_without_segmentation_frames_pass_through(frames: Path, tmp_path: Path) -> None:
    metrics = run_masks(make_spec(), frames, tmp_path / "out")
    assert metrics["masks_enabled"] is False and metrics["frames"] == 2
    assert json.loads((tmp_path / "out" / MASKS_JSON).read_text()) == {"enabled": False, "frames": 2}
    assert not (tmp_path / "out" / MASKS_DIR).exists()
