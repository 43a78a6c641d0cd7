"""The spz stage: splat.ply in; <name>.ply and <name>.spz out, in one orientation, with metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gs_stages.cli import run_stage
from gs_stages.export.ply import read_ply, write_ply
from gs_stages.export.rotate import rotate_gaussians, viewer_rotation
from gs_stages.export.spz import read_spz
from gs_stages.layout import SPLAT_PLY
from gs_stages.stage import StageError

from .export_splats import random_gaussians
from .jobs import SPLAT_FILES_ONLY, make_spec


@pytest.fixture
def splat_dir(tmp_path):
    directory = tmp_path / "splat"
    directory.mkdir()
    write_ply(directory / SPLAT_PLY, random_gaussians(2000, 3, seed=42))
    return directory


def test_rotated_delivery_in_one_orientation(tmp_path, splat_dir):
    out = tmp_path / "spz"
    metrics = run_stage("spz", make_spec(), {"splat": splat_dir}, out, SPLAT_FILES_ONLY)

    trained = read_ply(splat_dir / SPLAT_PLY)
    want = rotate_gaussians(trained, viewer_rotation())
    ply, spz = read_ply(out / "stage-test.ply"), read_spz(out / "stage-test.spz")
    for name in ("means", "scales", "quats", "opacities", "sh"):
        np.testing.assert_array_equal(getattr(ply, name), getattr(want, name), err_msg=name)
    # Same orientation: the .spz decodes to the .ply's positions and view-dependent colours.
    np.testing.assert_array_less(np.abs(spz.means - ply.means), 0.5 / 4096 + 1e-6)
    assert np.abs(np.sum(spz.quats * ply.quats, axis=1) / np.linalg.norm(ply.quats, axis=1)).min() > 1 - 1e-5
    band1 = np.abs(spz.sh[:, 1:4] - ply.sh[:, 1:4])[np.abs(ply.sh[:, 1:4]) < 0.9]
    assert band1.max() <= 4.5 / 128 + 1e-6
    # ... while the trained (unrotated) splat is visibly elsewhere.
    assert np.abs(spz.means - trained.means).max() > 1.0

    assert metrics["gaussians"] == 2000 and metrics["sh_degree"] == 3
    assert metrics["ply_bytes"] == (out / "stage-test.ply").stat().st_size
    assert metrics["spz_bytes"] == (out / "stage-test.spz").stat().st_size
    assert metrics["spz_bytes"] < metrics["ply_bytes"] / 5
    assert metrics["rotation_applied"] is True
    assert metrics["rotation_matrix"] == [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
    assert json.loads((out / "metrics.json").read_text())["rotation_matrix"] == metrics["rotation_matrix"]


def test_without_rotation_and_with_output_name(tmp_path, splat_dir):
    out = tmp_path / "spz"
    spec = make_spec(**{"training.rotateSplat": False})
    metrics = run_stage("spz", spec, {"splat": splat_dir}, out, {"output_name": "garden", "sog": "false"})
    # No cameras.json from the splat stage: no fly-through or thumbnail either, and the metrics say why.
    assert sorted(p.name for p in out.iterdir()) == [".stage_complete.json", "garden.ply", "garden.spz", "metrics.json"]
    assert metrics["flythrough"] == metrics["thumbnail"] == "not written: no capture cameras"
    assert metrics["sog"] == "off (engine setting sog=false)"
    trained, ply = read_ply(splat_dir / SPLAT_PLY), read_ply(out / "garden.ply")
    np.testing.assert_array_equal(ply.sh, trained.sh)
    np.testing.assert_array_equal(ply.means, trained.means)
    assert metrics["rotation_applied"] is False
    assert metrics["rotation_matrix"] == np.eye(3).tolist()


def test_missing_splat_is_an_actionable_error(tmp_path):
    with pytest.raises(StageError, match="no trained splat"):
        run_stage("spz", make_spec(), {"splat": tmp_path / "nothing"}, tmp_path / "out")
