"""segmentation.backgroundRemovalModel sam2: the masks stage runs SAM 2's video predictor in SAM 2's venv.

The real loading and inference code runs (sam2.build_sam, the video predictor, torchvision's Faster
R-CNN), with stand-in weights the test writes (sam2_weights.py): SAM 2.1 from the package's smallest
config with random weights. They check shapes, prompts, propagation over every frame, thresholding, the
mask files and training on the masked frames; they say nothing of mask quality, which needs Meta's
released checkpoint (not downloadable here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gs_stages.cli import run_chain, run_stage
from gs_stages.layout import MASKS_DIR, MASKS_JSON
from gs_stages.masks.sam2_masks import MAKE_VENV_PYTHON
from gs_stages.stage import StageError
from tests.external_venvs import external_python

from .jobs import make_spec
from .masks_fixtures import read_mask, run_masks, write_frames
from .splat_scenes import make_scene

SAM2_FILE, DETECTOR = "sam2.1_hiera_tiny.pt", "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"


@pytest.fixture(scope="module")
def sam2_python() -> str:
    return external_python(MAKE_VENV_PYTHON, "SAM 2", "sam2")


def _weights(python: str, folder: Path, person: bool) -> Path:
    script = Path(__file__).with_name("sam2_weights.py")
    subprocess.run([python, str(script), str(folder), "person" if person else "no-person"], check=True)
    return folder


@pytest.fixture(scope="module")
def person_weights(sam2_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _weights(sam2_python, tmp_path_factory.mktemp("person"), person=True)


@pytest.fixture(scope="module")
def no_person_weights(sam2_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _weights(sam2_python, tmp_path_factory.mktemp("no-person"), person=False)


def _frames(folder: Path, sizes: list[tuple[int, int]]) -> list[str]:
    rng = np.random.default_rng(7)
    frames = []
    for width, height in sizes:
        frame = np.full((height, width, 3), 40, np.uint8)
        frame[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = rng.integers(150, 255, 3)  # an object
        frames.append(frame)
    return write_frames(folder, frames, ".jpg")


def _sam2_spec(input_key: str = "media.zip", threshold: float = 0.6, **more: object):
    return make_spec(
        input_key,
        **{
            "segmentation.removeBackground": True,
            "segmentation.backgroundRemovalModel": "sam2",
            "segmentation.maskThreshold": threshold,
            **more,
        },
    )


def _settings(weights: Path, python: str) -> dict[str, str]:
    return {"segmentation_weights": str(weights), "sam2_model": "tiny", "sam2_python": python}


def test_a_person_box_prompts_and_the_mask_propagates_over_the_video(
    tmp_path: Path, person_weights: Path, sam2_python: str
) -> None:
    names = _frames(tmp_path / "frames", [(160, 120)] * 4)
    out = tmp_path / "masks"
    metrics = run_masks(_sam2_spec("clip.mp4"), tmp_path / "frames", out, **_settings(person_weights, sam2_python))

    config = json.loads((out / MASKS_JSON).read_text())
    keep = config["keep"]
    assert config["enabled"] is True and keep["model"] == "sam2" and keep["config"].endswith("sam2.1_hiera_t.yaml")
    assert keep["weights"] == f"{person_weights / SAM2_FILE}, {person_weights / DETECTOR}"
    prompt = keep["prompt"]
    assert prompt["kind"] == "person_box" and prompt["score"] > 0.99
    x0, y0, x1, y1 = prompt["box"]
    assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120
    assert metrics["sam2_prompt"] == "person_box" and metrics["background_model"] == "sam2"
    assert [r["mask"] for r in config["per_frame"]] == [Path(n).stem + ".png" for n in names]
    for record in config["per_frame"]:  # every frame got its mask from the propagation
        mask = read_mask(out / MASKS_DIR / record["mask"])
        assert mask.shape == (120, 160) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        assert record["object_fraction"] == pytest.approx(np.count_nonzero(mask) / mask.size, abs=1e-4)


def test_no_person_prompts_centre_points_and_the_threshold_tightens_the_mask(
    tmp_path: Path, no_person_weights: Path, sam2_python: str
) -> None:
    """A photo zip whose photos differ in size: the frames in capture order are the sequence, and each
    mask has its own frame's size. The mask logits are min-max normalised per frame and thresholded, so a
    higher maskThreshold keeps a subset of the pixels a lower one keeps."""
    sizes = [(160, 120), (160, 120), (120, 160)]
    _frames(tmp_path / "frames", sizes)
    settings = _settings(no_person_weights, sam2_python)
    loose, tight = tmp_path / "loose", tmp_path / "tight"
    run_masks(_sam2_spec(threshold=0.2), tmp_path / "frames", loose, **settings)
    run_masks(_sam2_spec(threshold=0.8), tmp_path / "frames", tight, **settings)

    prompt = json.loads((loose / MASKS_JSON).read_text())["keep"]["prompt"]
    assert prompt["kind"] == "centre_points" and prompt["labels"] == [1] * 5
    assert prompt["points"][0] == [80.0, 60.0]  # the first frame's centre
    grew = 0
    for index, (width, height) in enumerate(sizes):
        a = read_mask(loose / MASKS_DIR / f"{index:06d}.png")
        b = read_mask(tight / MASKS_DIR / f"{index:06d}.png")
        assert a.shape == b.shape == (height, width)
        assert not np.any((b > 0) & (a == 0)), "a pixel kept at 0.8 must be kept at 0.2"
        grew += int(np.count_nonzero(a) > np.count_nonzero(b))
    assert grew >= 1


def test_missing_sam2_weights_are_refused_before_any_work(tmp_path: Path, sam2_python: str) -> None:
    _frames(tmp_path / "frames", [(64, 48)])
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / DETECTOR).write_bytes(b"only the detector")
    out = tmp_path / "out"
    with pytest.raises(StageError) as error:
        run_masks(_sam2_spec(), tmp_path / "frames", out, **_settings(weights, sam2_python))
    assert f"background removal (sam2) needs the weights file {SAM2_FILE}, expected at {weights / SAM2_FILE}" in str(
        error.value
    )
    assert "Meta's SAM 2.1 checkpoint" in (error.value.hint or "")
    assert not out.exists()


def test_a_python_without_sam2_is_refused_with_how_to_build_it(tmp_path: Path, person_weights: Path) -> None:
    _frames(tmp_path / "frames", [(64, 48)])
    out = tmp_path / "out"
    with pytest.raises(StageError, match="cannot import sam2") as error:
        run_masks(_sam2_spec(), tmp_path / "frames", out, **_settings(person_weights, sys.executable))
    assert "make sam2" in (error.value.hint or "")
    assert not out.exists()


def test_the_splat_stage_trains_on_sam2_masked_frames(tmp_path: Path, person_weights: Path, sam2_python: str) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=6, width=64, height=48)
    masks = tmp_path / "masks"
    run_masks(_sam2_spec(), scene.frames, masks, **_settings(person_weights, sam2_python))
    spec = make_spec(**{"training.maxSteps": 30})
    settings = {"device": "cpu", "backend": "torch", "image_downscale": 1, "preset_overrides": {"num_downscales": 0}}
    inputs = {"frames": scene.frames, "sparse_model": scene.sparse, "masks": masks}
    metrics = run_stage("splat", spec, inputs, tmp_path / "splat", settings)
    assert metrics["masks"] is True
    assert (tmp_path / "splat" / "splat.ply").stat().st_size > 0


def test_a_chain_refuses_missing_sam2_weights_before_the_frames_stage(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / SAM2_FILE).write_bytes(b"the checkpoint only")
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"never read")
    settings = {"segmentation_weights": str(weights), "sam2_model": "tiny"}
    with pytest.raises(StageError) as error:
        run_chain(["frames", "masks"], _sam2_spec("clip.mp4"), tmp_path / "root", media, settings)
    assert f"needs the weights file {DETECTOR}, expected at {weights / DETECTOR}" in str(error.value)
    assert "torchvision's COCO Faster R-CNN" in (error.value.hint or "")
    assert not (tmp_path / "root").exists()  # the frames stage never started
    with pytest.raises(StageError, match=r"'huge' is not a SAM 2\.1 model"):
        run_chain(
            ["frames", "masks"], _sam2_spec("clip.mp4"), tmp_path / "root", media, {**settings, "sam2_model": "huge"}
        )
