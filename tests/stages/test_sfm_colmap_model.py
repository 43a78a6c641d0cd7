"""statue_of_liberty_colmap: the zip's COLMAP model becomes sparse/0 as given (40 images, 1816 points)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .jobs import make_spec
from .sfm_fixtures import run_sparse, sparse_model, statue_frames


@pytest.mark.parametrize("sfm_enable", [True, False], ids=["sfm-on", "sfm-off"])
def test_statue_model_is_used_as_given(tmp_path: Path, sfm_enable: bool) -> None:
    frames = tmp_path / "frames"
    statue_frames(frames, max_side=600, model_files=".txt", subdir="0")
    spec = make_spec(**{"sfm.posePriors.usePosePriorColmapModelFiles": True, "sfm.enable": sfm_enable})
    metrics = run_sparse(spec, frames, tmp_path / "out")
    assert metrics["pose_source"] == "colmap_model"
    assert (metrics["registered_images"], metrics["points3d"]) == (40, 1816)
    assert metrics["prior_images_missing"] == 0 and metrics["frames_without_pose"] == 0
    assert "features" not in metrics["timings_s"]  # nothing re-estimated

    model = sparse_model(tmp_path / "out")
    assert (model.num_reg_images(), model.num_points3D()) == (40, 1816)
    assert sorted(i.name for i in model.images.values()) == sorted(p.name for p in (frames / "images").iterdir())
    camera = next(iter(model.cameras.values()))
    assert (camera.width, camera.height) == (400, 600)
    assert camera.params[0] == pytest.approx(2395.65 / 2, rel=1e-5)
    # The model's own 1.15 px mean error, measured on half-size images.
    assert metrics["mean_reprojection_error_px"] == pytest.approx(1.146 / 2, rel=0.01)
