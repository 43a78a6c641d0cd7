"""Where the masks stage finds U^2-Net's weights: a folder or an s3:// prefix, named by the engine setting
`segmentation_weights` or GS_SEGMENTATION_WEIGHTS; anything missing fails before any mask is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from gs_stages.layout import COMPLETE_MARKER, MASKS_DIR, MASKS_JSON
from gs_stages.stage import StageError

from .masks_fixtures import ramp_frame, read_mask, run_masks, segmentation_spec, weights_dir, write_frames

SPEC = segmentation_spec(removeBackground=True)


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    write_frames(tmp_path / "frames", [ramp_frame(0)])
    return tmp_path / "frames"


@pytest.fixture(autouse=True)
def _no_env_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GS_SEGMENTATION_WEIGHTS", raising=False)


def test_unconfigured_weights_say_what_to_set_and_write_nothing(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(StageError) as error:
        run_masks(SPEC, frames, out)
    message = str(error.value)
    assert message.startswith("background removal (u2net) needs the weights file u2net.onnx, and no weights")
    assert "segmentation_weights" in message and "GS_SEGMENTATION_WEIGHTS" in message
    assert not out.exists()


def test_a_missing_file_names_where_it_was_expected(frames: Path, tmp_path: Path) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    out = tmp_path / "out"
    with pytest.raises(StageError, match=r"needs the weights file u2net\.onnx, expected at .*weights/u2net\.onnx"):
        run_masks(SPEC, frames, out, segmentation_weights=str(empty))
    assert not out.exists()
    human = segmentation_spec(removeBackground=True, backgroundRemovalModel="u2net-human")
    weights_dir(empty, human=False)  # u2net.onnx only
    with pytest.raises(StageError, match=r"background removal \(u2net-human\) needs .*u2net_human_seg.onnx"):
        run_masks(human, frames, out, segmentation_weights=str(empty))
    assert not out.exists()


def test_the_environment_variable_and_the_setting_winning_over_it(
    frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = weights_dir(tmp_path / "good")
    monkeypatch.setenv("GS_SEGMENTATION_WEIGHTS", str(good))
    run_masks(SPEC, frames, tmp_path / "env")
    assert json.loads((tmp_path / "env" / MASKS_JSON).read_text())["keep"]["weights"] == str(good / "u2net.onnx")
    with pytest.raises(StageError, match=r"expected at .*elsewhere"):
        run_masks(SPEC, frames, tmp_path / "setting", segmentation_weights=str(tmp_path / "elsewhere"))


def test_a_file_that_is_not_u2net_is_refused(frames: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "u2net.onnx").write_bytes(b"<html>not a model</html>")
    with pytest.raises(StageError, match=r"cannot load the u2net weights .*u2net.onnx"):
        run_masks(SPEC, frames, tmp_path / "out", segmentation_weights=str(broken))
    assert not (tmp_path / "out" / MASKS_JSON).exists()


def test_weights_from_s3(frames: Path, tmp_path: Path, moto_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the moto server over HTTP, as boto3 reaches S3 in the container."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_env)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gs-models")
    local = weights_dir(tmp_path / "w", human=False)
    s3.upload_file(str(local / "u2net.onnx"), "gs-models", "segmentation/u2net.onnx")

    run_masks(SPEC, frames, tmp_path / "out", segmentation_weights="s3://gs-models/segmentation/")
    config = json.loads((tmp_path / "out" / MASKS_JSON).read_text())
    assert config["keep"]["weights"] == "s3://gs-models/segmentation/u2net.onnx"
    assert read_mask(tmp_path / "out" / MASKS_DIR / "000000.png").max() == 255
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        COMPLETE_MARKER,
        MASKS_DIR,
        MASKS_JSON,
        "metrics.json",
    ]

    human = segmentation_spec(removeBackground=True, backgroundRemovalModel="u2net-human")
    with pytest.raises(StageError, match=r"expected at s3://gs-models/segmentation/u2net_human_seg\.onnx, and it is"):
        run_masks(human, frames, tmp_path / "missing", segmentation_weights="s3://gs-models/segmentation")
    assert not (tmp_path / "missing").exists()


def test_a_chain_refuses_missing_weights_before_its_first_stage(tmp_path: Path) -> None:
    """frames + masks: no frames are extracted for a job whose masks cannot run; the error names masks."""
    from gs_stages.cli import run_chain

    media = tmp_path / "media.zip"
    media.write_bytes(b"never read")
    root = tmp_path / "root"
    with pytest.raises(StageError, match="no weights location is configured") as error:
        run_chain(["frames", "masks"], SPEC, root, media, {})
    assert error.value.stage == "masks" and not root.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StageError, match=re.escape(f"expected at {empty / 'u2net.onnx'}")) as error:
        run_chain(["frames", "masks"], SPEC, root, media, {"segmentation_weights": str(empty)})
    assert error.value.stage == "masks" and not root.exists()
    # A chain without masks, or one whose weights are in place, goes on to frames (which reads the media).
    with pytest.raises(StageError, match=r"media\.zip") as error:
        run_chain(["frames"], SPEC, root, media, {})
    assert error.value.stage is None
    weights = {"segmentation_weights": str(weights_dir(tmp_path / "weights"))}
    with pytest.raises(StageError, match=r"media\.zip") as error:
        run_chain(["frames", "masks"], SPEC, root, media, weights)
    assert error.value.stage is None
