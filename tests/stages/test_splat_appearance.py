"""splatfacto-w-light on photos that disagree in exposure and white balance (issue #12, acceptance).

The synthetic scene of `splat_scenes.py` is photographed as usual, then every photo gets its own
exposure (2^u, u uniform in +-1 stop) and white balance (each channel x (1 + v), v uniform in +-20 %).
The draws are centred (their geometric mean is 1), because the delivered splat holds the mean
appearance of the training photos (docs/JOB_JSON.md): the unshifted renders are then its ground truth.
splatfacto and splatfacto-w-light train on the same shifted photos for the same steps, through the
stage runner; held-out quality is judged by the NeRF-W protocol from their metrics.json, and the
delivered splat.ply is rendered at the held-out cameras against the unshifted truth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from gs_stages.splat.metrics import psnr
from gs_stages.splat.scene import load_scene

from .jobs import COMPILED, train_splat
from .splat_scenes import SyntheticScene, make_scene, render_splat

STEPS = 200
pytestmark = pytest.mark.slow  # two 200-step trainings: about 3 min on the shared 2-core machine
OVERRIDES = {
    "num_downscales": 0,
    "warmup_length": 50,
    "refine_every": 50,
    "sh_degree_interval": 100,
    "stop_split_at": 150,
}


def shift_appearance(scene: SyntheticScene, seed: int = 7) -> Path:
    """Give every photo its own exposure and white balance; returns a folder with the unshifted photos."""
    images = scene.frames / "images"
    truth = scene.frames.parent / "unshifted"
    truth.mkdir()
    rng = np.random.default_rng(seed)
    stops = rng.uniform(-1.0, 1.0, len(scene.names))
    balance = np.log(1.0 + rng.uniform(-0.2, 0.2, (len(scene.names), 3)))
    gains = np.exp2(stops - stops.mean())[:, None] * np.exp(balance - balance.mean(0))
    for name, gain in zip(scene.names, gains, strict=True):
        bgr = cv2.imread(str(images / name))
        cv2.imwrite(str(truth / name), bgr)
        shifted = np.clip(bgr.astype(np.float64) * gain[::-1], 0, 255).round().astype(np.uint8)
        cv2.imwrite(str(images / name), shifted, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return truth


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticScene, Path]:
    scene = make_scene(tmp_path_factory.mktemp("appearance") / "scene", n_cameras=16, width=48, height=36)
    return scene, shift_appearance(scene)


def _train(scene: SyntheticScene, output: Path, model: str, steps: int = STEPS, **settings: Any) -> dict:
    return train_splat(scene, output, steps, OVERRIDES, model, **{**COMPILED, **settings})


@pytest.fixture(scope="module")
def trained(shifted: tuple[SyntheticScene, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    scene, _ = shifted
    root = tmp_path_factory.mktemp("appearance-runs")
    for model in ("splatfacto", "splatfacto-w-light"):
        _train(scene, root / model, model)
    return {model: root / model for model in ("splatfacto", "splatfacto-w-light")}


def test_nerfw_held_out_psnr_beats_splatfacto_by_3_db(trained: dict[str, Path]) -> None:
    plain = json.loads((trained["splatfacto"] / "metrics.json").read_text())
    light = json.loads((trained["splatfacto-w-light"] / "metrics.json").read_text())
    assert light["model"] == "splatfacto-w-light" and light["steps"] == plain["steps"] == STEPS
    assert [r["name"] for r in light["nerfw"]["per_view"]] == [r["name"] for r in light["per_view"]]
    assert "left half" in light["nerfw"]["protocol"]
    print(f"NeRF-W PSNR: splatfacto {plain['psnr_nerfw']:.2f} dB, splatfacto-w-light {light['psnr_nerfw']:.2f} dB")
    print(f"plain PSNR: splatfacto {plain['psnr']:.2f} dB, splatfacto-w-light {light['psnr']:.2f} dB")
    assert light["psnr_nerfw"] >= plain["psnr_nerfw"] + 3.0
    assert light["appearance"]["exposure_spread_stops"] > 1.0  # it learned the photos' exposures


def test_delivered_splat_renders_the_unshifted_truth_within_2_db(
    shifted: tuple[SyntheticScene, Path], trained: dict[str, Path]
) -> None:
    """The delivered splat.ply, rendered at the held-out cameras with no colour fitted, against the unshifted
    photos: within 2 dB of the same model's NeRF-W score (its colours fitted to each photo), so the neutral
    appearance costs at most 2 dB. Measured (compiled rasterizer): 27.0 dB unshifted vs 24.8 dB NeRF-W
    (splatfacto 19.2)."""
    scene, truth = shifted
    light = json.loads((trained["splatfacto-w-light"] / "metrics.json").read_text())
    held_out = load_scene(scene.frames, scene.sparse, downscale=1).test
    scores = []
    for view in held_out:
        render, _ = render_splat(trained["splatfacto-w-light"] / "splat.ply", view)  # the file alone, over black
        photo = torch.from_numpy(cv2.cvtColor(cv2.imread(str(truth / view.name)), cv2.COLOR_BGR2RGB)) / 255.0
        scores.append(psnr(render.clamp(0, 1), photo))
    neutral = sum(scores) / len(scores)
    print(f"delivered splat vs unshifted truth: {neutral:.2f} dB (NeRF-W {light['psnr_nerfw']:.2f} dB)")
    assert neutral >= light["psnr_nerfw"] - 2.0


def test_the_neutral_splat_costs_nothing_without_appearance_changes_and_gains_with_them(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """Plain held-out PSNR (no colour fitted; since session 9 it is the delivered file's, as a viewer draws it):
    on photos that agree in colour, w-light's neutral splat is within 1 dB of splatfacto's; on the shifted photos
    it is ahead of splatfacto. Measured (200 steps): 30.79 vs 31.38 dB on photos that agree, 13.60 vs 13.23 on
    the shifted ones (docs/BENCHMARKS.md, session 9; the compiled rasterizer: 30.74 vs 31.39, 13.50 vs 13.09)."""
    scene = make_scene(tmp_path / "scene", n_cameras=16, width=48, height=36)
    plain = {model: _train(scene, tmp_path / model, model)["psnr"] for model in ("splatfacto", "splatfacto-w-light")}
    shifted_psnr = {m: json.loads((trained[m] / "metrics.json").read_text())["psnr"] for m in trained}
    print(f"plain PSNR, photos agree: {plain}; shifted photos: {shifted_psnr}")
    assert plain["splatfacto-w-light"] >= plain["splatfacto"] - 1.0
    assert shifted_psnr["splatfacto-w-light"] > shifted_psnr["splatfacto"]


def test_each_held_out_photos_exposure_against_the_neutral_splat_is_reported(
    shifted: tuple[SyntheticScene, Path], trained: dict[str, Path]
) -> None:
    """metrics.json's `nerfw.per_view[].exposure_stops` is the held-out photo's exposure against the delivered
    colours: here the shift this test gave each held-out photo (its unshifted copy is w-light's truth)."""
    scene, truth = shifted
    light = json.loads((trained["splatfacto-w-light"] / "metrics.json").read_text())
    reported = {row["name"]: row["exposure_stops"] for row in light["nerfw"]["per_view"]}
    applied = {}
    for name in reported:
        original = cv2.imread(str(truth / name)).astype(np.float64)
        shifted_photo = cv2.imread(str(scene.frames / "images" / name)).astype(np.float64)
        unclipped = (shifted_photo > 0) & (shifted_photo < 255)
        applied[name] = float(np.log2((original * shifted_photo)[unclipped].sum() / (original**2)[unclipped].sum()))
    print(f"exposure stops, reported vs applied: {reported} {applied}")
    assert max(abs(v) for v in applied.values()) > 0.3  # the held-out photos are off the mean
    for name, stops in reported.items():
        assert stops == pytest.approx(applied[name], abs=0.2), name
    assert light["nerfw"]["mean_abs_exposure_stops"] == pytest.approx(
        sum(abs(v) for v in reported.values()) / len(reported), abs=1e-3
    )
