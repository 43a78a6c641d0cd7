"""training.model 3dgrt: the adapter to NVIDIA 3DGRUT, both ways, on the CPU (3DGRT itself needs OptiX).

3DGRUT is not on PyPI and tests cannot fetch it, so its reading rules are restated here from its source at
the pinned commit (gs_stages/grt/environment.py: GRUT_COMMIT) and the folder we write is read back by
those rules; test_grt_with_3dgrut.py runs 3DGRUT's own code on it where that code is at hand. The other
direction: a .ply written with the exact layout of 3DGRUT's exporter comes back in our convention, value
for value, and the spz stage delivers the splat output made from it; the dry run prints the exact command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest
from plyfile import PlyData, PlyElement

from gs_stages.cli import run_stage
from gs_stages.export.cameras import CAMERAS_JSON
from gs_stages.export.ply import read_ply
from gs_stages.grt import trainer
from gs_stages.grt.dataset import write_grt_input
from gs_stages.grt.environment import PYTHON_ENV
from gs_stages.layout import METRICS_JSON
from gs_stages.stage import StageError

from .jobs import SPLAT_FILES_ONLY, make_spec
from .splat_scenes import make_scene


def _3dgrut_split(model_dir: Path, test_split_interval: int) -> tuple[list[str], list[str]]:
    """3DGRUT's split: images.bin sorted by name (datasets/utils.py read_colmap_extrinsics_binary, `return
    sorted(images, key=lambda x: x.name)`), image i held out when i % interval == 0 (dataset_colmap.py
    `reload`: `np.mod(indices, self.test_split_interval) == 0` for every split but "train")."""
    names = sorted(im.name for im in pycolmap.Reconstruction(str(model_dir)).images.values())
    return [n for i, n in enumerate(names) if i % test_split_interval], names[::test_split_interval]


def _with_people(scene) -> None:
    """A person over the left quarter of every frame (the masks stage's ignore/ folder)."""
    people = scene.masks / "ignore"
    people.mkdir()
    for name in scene.names:
        mask = np.zeros((scene.height, scene.width), np.uint8)
        mask[:, : scene.width // 4] = 255
        cv2.imwrite(str(people / (Path(name).stem + ".png")), mask)
    masks_json = scene.masks / "masks.json"
    masks_json.write_text(json.dumps({**json.loads(masks_json.read_text()), "ignore": {"dir": "ignore"}}))


def test_3dgrut_finds_our_model_images_masks_and_split(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=10, width=64, height=48, masks=True)
    _with_people(scene)
    grt = write_grt_input(scene.frames, scene.sparse, scene.masks, tmp_path / "data", test_every=8)

    # dataset_colmap.py `load_intrinsics_and_extrinsics`: <path>/sparse/0/{images,cameras}.bin
    assert (grt.data / "sparse/0/images.bin").is_file() and (grt.data / "sparse/0/cameras.bin").is_file()
    train, test = _3dgrut_split(grt.data / "sparse/0", 8)
    assert (grt.train, grt.test) == (train, test) and test == [scene.names[0], scene.names[8]]
    for name in scene.names:
        # `_store_camera_params_cpu`: <path>/<get_images_folder()>/<name>, and <stem>_mask.png beside it
        image = grt.data / "images" / name
        assert cv2.imread(str(image)).shape == (48, 64, 3)
        mask = cv2.imread(str(image.with_name(image.stem + "_mask.png")), cv2.IMREAD_GRAYSCALE)
        used = mask / 255.0 > 0.5  # `get_gpu_batch_with_intrinsics`: mask / 255 > 0.5 is trained on
        assert not used[:, :16].any(), "a person's pixels are left out of the loss"
        keep = cv2.imread(str(scene.masks / "masks" / (Path(name).stem + ".png")), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(used[:, 16:], keep[:, 16:] > 127), "elsewhere the object mask decides"
    assert grt.masks and not grt.filtered_model and grt.images_folder == "images"


def test_a_downscaled_input_passes_3dgruts_size_check(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=96, height=72, masks=True)
    grt = write_grt_input(scene.frames, scene.sparse, scene.masks, tmp_path / "data", test_every=8, factor=2)
    assert grt.images_folder == "images_2" and not (grt.data / "images").exists()
    camera = pycolmap.Reconstruction(str(scene.sparse / "sparse/0")).cameras[1]
    for name in scene.names:
        height, width = cv2.imread(str(grt.data / "images_2" / name)).shape[:2]
        # dataset_colmap.py: scaling_factor = int(round(intr.height / height)); |full / factor - size| <= 1
        factor = round(camera.height / height)
        assert factor == 2 and abs(camera.width / factor - width) <= 1 and abs(camera.height / factor - height) <= 1
        mask = cv2.imread(str(grt.data / "images_2" / (Path(name).stem + "_mask.png")), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == (height, width) and set(np.unique(mask)) <= {0, 255}


def test_a_model_with_an_unused_camera_is_written_as_its_posed_part(tmp_path: Path) -> None:
    """3DGRUT looks an image up for every camera of cameras.bin; the posed part goes out as a text model."""
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=64, height=48)
    model = scene.sparse / "sparse/0"
    reconstruction = pycolmap.Reconstruction(str(model))
    reconstruction.add_camera_with_trivial_rig(pycolmap.Camera.create_from_model_name(7, "SIMPLE_RADIAL", 50.0, 64, 48))
    reconstruction.write(str(model))

    grt = write_grt_input(scene.frames, scene.sparse, None, tmp_path / "data")

    assert grt.filtered_model and (grt.data / "sparse/0/images.txt").is_file()
    written = pycolmap.Reconstruction(str(grt.data / "sparse/0"))
    assert set(written.cameras) == {1} and len(written.points3D) == len(reconstruction.points3D)
    for image in reconstruction.images.values():
        copy = written.find_image_with_name(image.name)
        assert np.allclose(copy.cam_from_world().matrix(), image.cam_from_world().matrix(), atol=1e-12)
    assert _3dgrut_split(grt.data / "sparse/0", 8) == (grt.train, grt.test)


def _3dgrut_ply(path: Path, means, normals, sh, opacity, scales, quats) -> None:
    """A .ply exactly as 3DGRUT writes it (export/formats/ply.py `PLYExporter._write_ply`): x y z, nx ny nz
    (0 0 1 placeholders), f_dc_0..2, f_rest_* from its [N, 15*3] coefficient-major specular transposed to
    channel-major, opacity (pre-sigmoid), scale_0..2 (pre-exp), rot_0..3 (w x y z, unnormalised); all f4."""
    n = len(means)
    specular = sh[:, 1:, :].reshape(n, 15 * 3)  # its internal layout: coefficient-major, RGB innermost
    specular = specular.reshape(n, 15, 3).transpose(0, 2, 1).reshape(n, 45)
    columns = np.concatenate((means, normals, sh[:, 0, :], specular, opacity[:, None], scales, quats), axis=1)
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(45)] + ["opacity", "scale_0", "scale_1", "scale_2"]
    names += ["rot_0", "rot_1", "rot_2", "rot_3"]
    vertex = np.empty(n, dtype=[(name, "f4") for name in names])
    vertex[:] = list(map(tuple, columns))
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))


def test_3dgruts_ply_comes_back_in_our_convention(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 50
    means, sh = rng.normal(size=(n, 3)), rng.normal(size=(n, 16, 3)) * 0.3
    opacity, scales, quats = rng.normal(size=n), rng.normal(size=(n, 3)) - 3, rng.normal(size=(n, 4))
    means[7, 1] = np.nan  # a diverged Gaussian
    _3dgrut_ply(tmp_path / "export_last.ply", means, np.tile([0, 0, 1], (n, 1)), sh, opacity, scales, quats)

    kept = trainer.convert_ply(tmp_path / "export_last.ply", tmp_path / "splat.ply")

    assert kept == {"exported": n, "kept": n - 1, "sh_degree": 3}
    ours = read_ply(tmp_path / "splat.ply")
    rows = np.arange(n) != 7
    f4 = np.float32
    assert np.array_equal(ours.means, means[rows].astype(f4)) and np.array_equal(ours.quats, quats[rows].astype(f4))
    assert np.array_equal(ours.sh, sh[rows].astype(f4)), "f_rest: channel-major in both files"
    assert np.array_equal(ours.opacities, opacity[rows].astype(f4)) and np.array_equal(
        ours.scales, scales[rows].astype(f4)
    )
    names = PlyData.read(str(tmp_path / "splat.ply"))["vertex"].data.dtype.names
    assert names[:9] == ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2")


def test_the_spz_stage_delivers_a_3dgrt_splat_unchanged(tmp_path: Path) -> None:
    """What the runner hands back (its result and 3DGRUT's .ply) becomes a splat output the spz stage delivers."""
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=64, height=48)
    grt = write_grt_input(scene.frames, scene.sparse, None, tmp_path / "data")
    rng = np.random.default_rng(1)
    n = 300
    sh = rng.normal(size=(n, 16, 3)) * 0.2
    quats, scales = rng.normal(size=(n, 4)), np.full((n, 3), -3.0)
    _3dgrut_ply(
        tmp_path / "export_last.ply",
        rng.normal(size=(n, 3)),
        np.tile([0, 0, 1], (n, 1)),
        sh,
        np.zeros(n),
        scales,
        quats,
    )
    result = {"ply": str(tmp_path / "export_last.ply"), "steps": 30, "train_seconds": 2.0, "gpu": "test"}
    result["evaluation"] = {"psnr": 25.0, "ssim": 0.8, "lpips": None, "views": grt.test}

    found = trainer.finish(result, grt, scene.sparse, tmp_path / "splat")
    (tmp_path / "splat" / METRICS_JSON).write_text(json.dumps(found))
    spec = make_spec(**{"training.model": "3dgrt"})
    settings = {**SPLAT_FILES_ONLY, "output_name": "scene"}  # the media renders are the spz stage's own tests
    delivered = run_stage("spz", spec, {"splat": tmp_path / "splat"}, tmp_path / "spz", settings)

    assert found["num_gaussians"] == n and delivered["spz_bytes"] > 0 and (tmp_path / "spz" / "scene.spz").is_file()
    cameras = json.loads((tmp_path / "spz" / CAMERAS_JSON).read_text())["cameras"]
    assert sorted(c["name"] for c in cameras) == sorted(scene.names)


def test_a_ply_without_one_finite_gaussian_is_an_error(tmp_path: Path) -> None:
    n = 3
    nan = np.full((n, 3), np.nan)
    _3dgrut_ply(tmp_path / "bad.ply", nan, nan, np.zeros((n, 16, 3)), np.zeros(n), np.zeros((n, 3)), np.ones((n, 4)))
    with pytest.raises(StageError, match="no finite Gaussian"):
        trainer.convert_ply(tmp_path / "bad.ply", tmp_path / "splat.ply")


def test_metrics_take_3dgruts_evaluation_of_our_held_out_views_only(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=64, height=48)
    grt = write_grt_input(scene.frames, scene.sparse, None, tmp_path / "data")
    result = {"steps": 30, "train_seconds": 1.5, "gpu": "H200", "lpips_absent_reason": "no weights"}
    result["evaluation"] = {"psnr": 27.5, "ssim": 0.9, "lpips": None, "views": list(reversed(grt.test))}
    found = trainer.metrics(result, grt, {"exported": 100, "kept": 98, "sh_degree": 3})
    assert (found["psnr"], found["num_gaussians"], found["non_finite_dropped"], found["test_views"]) == (27.5, 98, 2, 2)
    assert found["model"] == "3dgrt" and found["lpips_absent_reason"] == "no weights"
    result["evaluation"]["views"] = grt.train[:2]
    with pytest.raises(StageError, match="not the held-out views"):
        trainer.metrics(result, grt, {"exported": 100, "kept": 98, "sh_degree": 3})


def test_the_dry_run_prints_the_exact_command(tmp_path: Path) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=10, width=64, height=48)
    work = tmp_path / "work dir"  # a space: the path is quoted for hydra and for the shell
    python = "/opt/venvs/3dgrut/bin/python"
    settings = {"grt_python": python, "test_every": 5, "seed": 3, "grt_overrides": ["strategy.densify.frequency=100"]}
    args = ["--frames", str(scene.frames), "--sparse-model", str(scene.sparse), "--work", str(work), "--steps", "700"]
    done = subprocess.run(
        [sys.executable, "-m", "gs_stages.grt.trainer", *args, "--settings", json.dumps(settings)],
        capture_output=True,
        text=True,
        env={**os.environ, PYTHON_ENV: "/elsewhere/python"},  # the setting wins over the variable
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert shlex.split(lines[0]) == [python, str(trainer.RUNNER), str(work / "request.json"), str(work / "result.json")]
    request = json.loads((work / "request.json").read_text())
    overrides = request["overrides"]
    assert request["config_name"] == "apps/colmap_3dgrt" and overrides[0] == "render.particle_kernel_degree=2"
    for expected in ("n_iterations=700", "dataset.test_split_interval=5", "seed_initialization=3",
                     "dataset.downsample_factor=1", "export_ply.enabled=true", "test_last=true"):  # fmt: skip
        assert expected in overrides, expected
    assert f"path='{work / 'data'}'" in overrides and overrides[-1] == "strategy.densify.frequency=100"
    assert lines[1] == "# as 3DGRUT's own CLI: python train.py --config-name " + shlex.join(
        ["apps/colmap_3dgrt.yaml", *overrides]
    )
    names = sorted(scene.names)
    assert lines[2] == f"# held out (2): {names[0]} {names[5]}"
