"""Background removal: U^2-Net's pre/post-processing around a stand-in network of known output.

The stand-in's fused saliency is the red channel of the normalised input (onnx_models.py), so the
right mask is known without the real weights: on a red ramp, every column right of maskThreshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gs_stages.layout import MASKS_DIR, MASKS_JSON

from .masks_fixtures import (
    HEIGHT,
    WIDTH,
    ramp_frame,
    read_mask,
    run_masks,
    segmentation_spec,
    weights_dir,
    write_frames,
)
from .sfm_fixtures import kermit_frames


def _boundary(mask: np.ndarray) -> int:
    """The first masked column of a mask that is 0 left of it and 255 right of it, in every row."""
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert (mask == mask[:1]).all()  # the ramp is horizontal: every row alike
    row = mask[0]
    first = int(np.argmax(row == 255))
    assert (row[:first] == 0).all() and (row[first:] == 255).all()
    return first


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.85])
def test_masks_follow_the_fused_saliency_and_the_threshold(tmp_path: Path, threshold: float) -> None:
    frames = tmp_path / "frames"
    names = write_frames(frames, [ramp_frame(0), ramp_frame(1)])
    spec = segmentation_spec(removeBackground=True, maskThreshold=threshold)
    metrics = run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w")))

    expected = threshold * (WIDTH - 1)  # the column where the red ramp reaches the threshold
    for name in names:
        boundary = _boundary(read_mask(tmp_path / "out" / MASKS_DIR / (Path(name).stem + ".png")))
        assert abs(boundary - expected) <= 3, (boundary, expected)
    config = json.loads((tmp_path / "out" / MASKS_JSON).read_text())
    assert config["enabled"] is True and config["frames"] == 2 and config["threshold"] == threshold
    assert config["keep"]["model"] == "u2net" and config["keep"]["input_size"] == [320, 320]
    assert config["keep"]["weights"] == str(tmp_path / "w" / "u2net.onnx")
    assert "ignore" not in config
    assert [r["mask"] for r in config["per_frame"]] == ["000000.png", "000001.png"]
    assert config["per_frame"][0]["object_fraction"] == pytest.approx(1 - threshold, abs=0.01)
    assert metrics["masks_enabled"] is True and metrics["background_model"] == "u2net"
    assert metrics["object_fraction_mean"] == pytest.approx(1 - threshold, abs=0.01)


def test_u2net_human_uses_its_own_weights(tmp_path: Path) -> None:
    """u2net-human reads u2net_human_seg.onnx (the stand-in's saliency is blue: the left side)."""
    frames = tmp_path / "frames"
    write_frames(frames, [ramp_frame(2)])
    spec = segmentation_spec(removeBackground=True, backgroundRemovalModel="u2net_human", maskThreshold=0.6)
    run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w")))
    mask = read_mask(tmp_path / "out" / MASKS_DIR / "000000.png")
    left = (mask[0] == 255).nonzero()[0]
    assert left.min() == 0 and abs(left.max() - 0.4 * (WIDTH - 1)) <= 3
    config = json.loads((tmp_path / "out" / MASKS_JSON).read_text())
    assert config["keep"]["model"] == "u2net-human" and config["keep"]["weights"].endswith("u2net_human_seg.onnx")


@pytest.mark.parametrize(("side", "size"), [(256, [256, 256]), ("side", [320, 320])])
def test_input_size_comes_from_the_graph(tmp_path: Path, side: int | str, size: list[int]) -> None:
    """A fixed input shape is used as given; a symbolic one falls back to U^2-Net's 320x320."""
    frames = tmp_path / "frames"
    write_frames(frames, [ramp_frame(3)])
    spec = segmentation_spec(removeBackground=True, maskThreshold=0.5)
    run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w", side=side)))
    assert abs(_boundary(read_mask(tmp_path / "out" / MASKS_DIR / "000000.png")) - 0.5 * (WIDTH - 1)) <= 3
    assert json.loads((tmp_path / "out" / MASKS_JSON).read_text())["keep"]["input_size"] == size


def test_kermit_frames_masked_where_red_is_high(tmp_path: Path) -> None:
    """Real photos (JPEG, 320 px): the mask is where the normalised red channel reaches the threshold,
    up to the edges that the network's 320x320 round trip moves."""
    frames = tmp_path / "frames"
    manifest = kermit_frames(frames, max_side=320)
    spec = segmentation_spec(removeBackground=True, maskThreshold=0.6)
    metrics = run_masks(spec, frames, tmp_path / "out", segmentation_weights=str(weights_dir(tmp_path / "w")))
    assert metrics["frames"] == len(manifest.frames) == 11
    agreements, coverage = [], []
    for record in manifest.frames:
        red = cv2.imread(str(frames / "images" / record.name))[..., 2].astype(np.float32)
        expected = (red - red.min()) / (red.max() - red.min()) >= 0.6
        mask = read_mask(tmp_path / "out" / MASKS_DIR / (Path(record.name).stem + ".png"))
        assert mask.shape == (record.height, record.width) and set(np.unique(mask)) <= {0, 255}
        agreements.append(float(((mask == 255) == expected).mean()))
        coverage.append(float(expected.mean()))
    assert min(agreements) >= 0.98, agreements
    assert min(coverage) > 0.05 and max(coverage) < 0.95, coverage  # neither all nor nothing: a real test
