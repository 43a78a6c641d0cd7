"""cameras.json: the splat stage writes the posed views it trained on, and the spz stage delivers them in
the delivered files' axes, so a capture camera sees the delivered splat exactly as it saw the trained one."""

from __future__ import annotations

import json

import numpy as np
import pycolmap
import pytest

from gs_stages.cli import run_stage
from gs_stages.export.cameras import CAMERAS_JSON
from gs_stages.export.ply import read_ply, write_ply
from gs_stages.layout import SPLAT_PLY

from .export_splats import random_gaussians
from .jobs import SPLAT_FILES_ONLY, make_spec
from .splat_scenes import make_scene


def project(camera: dict, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates of world points seen by a cameras.json camera."""
    view = np.asarray(camera["world_to_camera"])
    local = points @ view[:3, :3].T + view[:3, 3]
    return np.stack(
        [
            camera["fx"] * local[:, 0] / local[:, 2] + camera["cx"],
            camera["fy"] * local[:, 1] / local[:, 2] + camera["cy"],
        ],
        axis=1,
    )


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    root = tmp_path_factory.mktemp("cameras")
    scene = make_scene(root / "scene", n_cameras=8, width=64, height=48)
    spec = make_spec(**{"training.maxSteps": 3})
    settings = {"device": "cpu", "image_downscale": 1, "preset_overrides": {"num_downscales": 0}}
    run_stage("splat", spec, {"frames": scene.frames, "sparse_model": scene.sparse}, root / "splat", settings)
    metrics = run_stage("spz", spec, {"splat": root / "splat"}, root / "spz", SPLAT_FILES_ONLY)
    return scene, root / "splat", root / "spz", metrics


def test_splat_stage_writes_the_sparse_models_cameras(stages):
    scene, splat_dir, _, _ = stages
    written = json.loads((splat_dir / CAMERAS_JSON).read_text())
    model = pycolmap.Reconstruction(str(scene.sparse / "sparse" / "0"))
    assert [c["name"] for c in written["cameras"]] == sorted(scene.names)
    for camera in written["cameras"]:
        image = next(i for i in model.images.values() if i.name == camera["name"])
        np.testing.assert_allclose(
            np.asarray(camera["world_to_camera"])[:3], image.cam_from_world().matrix(), atol=1e-6
        )
        fx, fy, cx, cy = model.cameras[image.camera_id].params
        assert (camera["width"], camera["height"]) == (64, 48)
        assert [camera["fx"], camera["fy"], camera["cx"], camera["cy"]] == pytest.approx([fx, fy, cx, cy])


def test_spz_stage_delivers_them_rotated_with_the_splat(stages):
    _, splat_dir, spz_dir, metrics = stages
    trained = json.loads((splat_dir / CAMERAS_JSON).read_text())["cameras"]
    delivered = json.loads((spz_dir / CAMERAS_JSON).read_text())
    assert metrics["cameras"] == len(trained) == len(delivered["cameras"]) == 8
    assert delivered["axes"] == "as the .ply and .spz"
    before = read_ply(splat_dir / SPLAT_PLY).means.astype(np.float64)
    after = read_ply(spz_dir / "stage-test.ply").means.astype(np.float64)
    assert not np.allclose(before, after)  # rotated (rotateSplat is on by default)
    for old, new in zip(trained, delivered["cameras"], strict=True):
        np.testing.assert_allclose(project(new, after), project(old, before), atol=1e-3)


@pytest.mark.parametrize("content", [None, "{not json", '{"format": "something else"}'])
def test_spz_stage_without_usable_cameras_still_delivers(tmp_path, content):
    splat_dir = tmp_path / "splat"
    splat_dir.mkdir()
    write_ply(splat_dir / SPLAT_PLY, random_gaussians(500, 1))
    if content is not None:
        (splat_dir / CAMERAS_JSON).write_text(content)
    metrics = run_stage("spz", make_spec(), {"splat": splat_dir}, tmp_path / "spz", SPLAT_FILES_ONLY)
    assert metrics["cameras"] == 0 and not (tmp_path / "spz" / CAMERAS_JSON).exists()
    assert (tmp_path / "spz" / "stage-test.spz").is_file()
