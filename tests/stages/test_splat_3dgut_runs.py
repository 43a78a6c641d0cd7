"""3dgut through the stage CLI on real photos, resumed from a checkpoint, and exported.

statue_of_liberty_colmap's model has one SIMPLE_RADIAL camera with k = -0.684: 3dgut trains on the
photos as they are (no undistortion), through that lens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from gs_stages.cli import main, run_stage
from gs_stages.export.ply import read_ply
from gs_stages.export.spz import decode_spz
from gs_stages.splat.train import TrainingStopped
from tests.shared_data import DATA

from .jobs import MINIMAL_JOB, make_spec, train_splat
from .lens_scenes import make_lens_scene
from .splat_scenes import SyntheticScene

STATUE = DATA / "statue_of_liberty_colmap"
QUICK = {"num_downscales": 0, "sh_degree_interval": 10}


@pytest.mark.slow
def test_statue_trains_through_its_radial_lens_with_the_stage_cli(tmp_path: Path) -> None:
    spec = tmp_path / "job.json"
    # No crop or floater cleanup: at 10 steps their renders of the 35 views were 90 % of the test's time, and the
    # 3dgut Dagster job runs both on the same photos (tests/dagster/test_3dgut_job.py).
    post = {"cropOutputBounds": False, "cleanSplat": False}
    job = {**MINIMAL_JOB, "training": {"model": "3dgut", "maxSteps": 10}, "postProcessing": post}
    spec.write_text(json.dumps(job))
    out = tmp_path / "splat"
    settings = ["device=cpu", "image_downscale=8", 'preset_overrides={"num_downscales": 0}']
    argv = ["splat", "--spec", str(spec), "--input", f"frames={STATUE}", "--input", f"sparse_model={STATUE}"]
    assert main([*argv, "--output", str(out), *(x for s in settings for x in ("--setting", s))]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["model"], metrics["steps"], metrics["undistorted"]) == ("3dgut", 10, False)
    assert metrics["lenses"] == ["pinhole with distortion"]
    assert (metrics["image_width"], metrics["image_height"]) == (100, 150)  # the whole photo, not a crop
    assert len(read_ply(out / "splat.ply")) == metrics["num_gaussians"] > 0


@pytest.fixture(scope="module")
def fisheye(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    return make_lens_scene(tmp_path_factory.mktemp("fisheye-runs"), "OPENCV_FISHEYE", 160.0, 9, 48, 36)


def _run(scene: SyntheticScene, output: Path, steps: int, **settings: Any) -> dict[str, Any]:
    # No crop or floater cleanup (half of each run's time: 3dgut's renders of every view, several times over): the
    # checkpoints they would not touch are compared directly, and test_3dgut_job.py runs both for 3dgut.
    job = {"postProcessing.cropOutputBounds": False, "postProcessing.cleanSplat": False}
    return train_splat(scene, output, steps, QUICK, "3dgut", job=job, **settings)


@pytest.fixture(scope="module")
def straight(fisheye: SyntheticScene, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One uninterrupted 20-step run, checkpointed every 10 steps: the resume test's reference and the
    export test's splat (neither writes into its folder)."""
    out = tmp_path_factory.mktemp("fisheye-straight")
    return out, _run(fisheye, out, steps=20, checkpoint_every=10)


def test_a_stopped_3dgut_run_resumes_to_the_same_gaussians(
    fisheye: SyntheticScene, straight: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    reference, metrics = straight
    interrupted = tmp_path / "interrupted"
    with pytest.raises(TrainingStopped):
        _run(fisheye, interrupted, steps=20, checkpoint_every=10, stop_after=12)
    resumed = _run(fisheye, interrupted, steps=20, checkpoint_every=10)
    assert resumed["resumed_from_step"] == 10 and resumed["steps"] == 20
    a = torch.load(reference / "checkpoints" / "step-000020.pt", weights_only=False)["params"]
    b = torch.load(interrupted / "checkpoints" / "step-000020.pt", weights_only=False)["params"]
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert resumed["psnr"] == pytest.approx(metrics["psnr"], abs=1e-4)


def test_the_3dgut_splat_exports_and_reads_back(straight: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, metrics = straight
    splat = read_ply(out / "splat.ply")
    assert len(splat) == metrics["num_gaussians"]
    run_stage("spz", make_spec(), {"splat": out}, tmp_path / "spz")
    decoded = decode_spz(next((tmp_path / "spz").glob("*.spz")).read_bytes())
    assert len(decoded) == len(splat) and decoded.degree == splat.degree == metrics["sh_degree"]
