"""training.model nerfacto: nerfstudio trains it in its own venv; the stage delivers a textured .glb, no .spz.

The adapter is checked both ways with nerfstudio's own code: its colmap dataparser reads the folder we
write (our held-out split, our masks), and trimesh (nerfstudio's dependency) reads the mesh we deliver.
The end-to-end test trains nerfacto for a few steps on the CPU through the splat and spz stages.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from gs_stages.cli import run_stage
from gs_stages.export.mesh import NO_SPZ, glb_summary
from gs_stages.layout import METRICS_JSON
from gs_stages.nerf.dataset import write_nerf_input
from gs_stages.nerf.trainer import CPU_RAY_CHUNK, MAKE_VENV_PYTHON
from gs_stages.quality_checks import evaluate_check
from gs_stages.stage import StageError
from tests.external_venvs import external_python

from .jobs import make_spec
from .splat_scenes import make_scene

PROBE = Path(__file__).with_name("nerfstudio_probe.py")
#: nerfstudio's largest process on the CPU draft of the end-to-end test (measured: docs/BENCHMARKS.md).
PEAK_RSS_MB = 6000


@pytest.fixture(scope="module")
def ns_python() -> str:
    return external_python(MAKE_VENV_PYTHON, "nerfstudio", "nerfstudio")


def _probe(python: str, command: str, target: Path) -> dict:
    done = subprocess.run([python, str(PROBE), command, str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_nerfstudio_reads_our_split_and_masks(tmp_path: Path, ns_python: str) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=10, width=64, height=48, masks=True)
    people = tmp_path / "scene" / "masks" / "ignore"  # a person over the left quarter of every frame
    people.mkdir()
    for name in sorted((scene.frames / "images").iterdir()):
        mask = np.zeros((48, 64), np.uint8)
        mask[:, :16] = 255
        cv2.imwrite(str(people / (name.stem + ".png")), mask)
    masks_json = scene.masks / "masks.json"
    masks_json.write_text(json.dumps({**json.loads(masks_json.read_text()), "ignore": {"dir": "ignore"}}))

    written = write_nerf_input(scene.frames, scene.sparse, scene.masks, tmp_path / "data", test_every=8)
    names = sorted(p.name for p in (scene.frames / "images").iterdir())
    assert written.test == [names[0], names[8]] and written.train == names[1:8] + names[9:]

    found = _probe(ns_python, "split", tmp_path / "data")
    assert sorted(found["train"]["images"]) == written.train
    assert sorted(found["val"]["images"]) == sorted(found["test"]["images"]) == written.test
    assert found["train"]["cameras"] == 8 and found["train"]["width"] == 64
    assert len(found["train"]["masks"]) == 8
    used = cv2.imread(str(tmp_path / "data" / "masks" / (Path(names[1]).stem + ".png")), cv2.IMREAD_GRAYSCALE)
    keep = cv2.imread(str(scene.masks / "masks" / (Path(names[1]).stem + ".png")), cv2.IMREAD_GRAYSCALE)
    assert not used[:, :16].any(), "a person's pixels are left out"
    assert np.array_equal(used[:, 16:] > 0, keep[:, 16:] > 127), "elsewhere the object mask decides"


@pytest.mark.slow
def test_nerfacto_trains_on_the_cpu_and_delivers_a_textured_glb(tmp_path: Path, ns_python: str) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=64, height=48)
    spec = make_spec(**{"training.model": "nerfacto", "training.maxSteps": 20})
    settings = {  # the export is the CPU draft's (trainer.CPU_EXPORT): a 256 px texture, 5,000 faces
        "device": "cpu",
        "nerfstudio_python": ns_python,
        "nerfacto_overrides": {"datamanager": {"train_num_rays_per_batch": 512}},
    }
    inputs = {"frames": scene.frames, "sparse_model": scene.sparse}
    started = time.perf_counter()
    metrics = run_stage("splat", spec, inputs, tmp_path / "splat", settings)
    seconds = time.perf_counter() - started
    print(f"nerfacto stage: {seconds:.0f} s, nerfstudio peak RSS {metrics['nerfstudio_peak_rss_mb']} MB, {metrics}")
    assert metrics["model"] == "nerfacto" and metrics["steps"] == 20 and metrics["test_views"] == 2
    # Texturing renders CPU_RAY_CHUNK rays at a time; nerfstudio's own 32768 took it past 9.7 GB (OOM-killed).
    assert metrics["nerfstudio_ray_chunk"] == CPU_RAY_CHUNK
    assert metrics["nerfstudio_peak_rss_mb"] < PEAK_RSS_MB
    assert isinstance(metrics["psnr"], float) and 5 < metrics["psnr"] < 60
    assert json.loads((tmp_path / "splat" / METRICS_JSON).read_text())["psnr"] == metrics["psnr"]
    assert not (tmp_path / "splat" / "splat.ply").exists()

    delivered = run_stage("spz", spec, {"splat": tmp_path / "splat"}, tmp_path / "spz", {"output_name": "scene"})
    assert delivered["no_spz_reason"] == NO_SPZ and not list((tmp_path / "spz").glob("*.spz"))
    glb = tmp_path / "spz" / "scene.glb"
    assert glb_summary(glb)["images"] >= 1
    mesh = _probe(ns_python, "glb", glb)
    assert mesh["vertices"] > 0 and mesh["faces"] > 0 and mesh["uv"] == mesh["vertices"]
    assert mesh["texture"] and min(mesh["texture"]) > 0
    check = evaluate_check("spz", "spz_reads_back", tmp_path / "spz", delivered)
    assert check.passed and "no .spz for a NeRF" in check.description


def _glb(path: Path, meshes: int = 1, images: int = 1) -> Path:
    """A binary glTF 2.0 container (header + JSON chunk) with the given numbers of meshes and images."""
    import struct

    document = json.dumps({"asset": {"version": "2.0"}, "meshes": [{}] * meshes, "images": [{}] * images}).encode()
    document += b" " * (-len(document) % 4)
    chunk = struct.pack("<II", len(document), 0x4E4F534A) + document
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(chunk)) + chunk)
    return path


def test_the_spz_stage_delivers_the_mesh_of_a_nerfacto_job_and_checks_it(tmp_path: Path) -> None:
    spec = make_spec(**{"training.model": "nerfacto"})
    splat = tmp_path / "splat"
    splat.mkdir()
    _glb(splat / "mesh.glb")
    (splat / "point_cloud.ply").write_bytes(b"ply\n")
    metrics = run_stage("spz", spec, {"splat": splat}, tmp_path / "spz", {"output_name": "statue"})
    assert metrics["mesh_file"] == "statue.glb" and metrics["points_file"] == "statue_points.ply"
    assert metrics["no_spz_reason"] == NO_SPZ and metrics["mesh_textures"] == 1
    assert sorted(p.name for p in (tmp_path / "spz").iterdir() if not p.name.startswith(".")) == [
        "metrics.json",
        "statue.glb",
        "statue_points.ply",
    ]
    assert evaluate_check("spz", "spz_reads_back", tmp_path / "spz", metrics).passed

    _glb(tmp_path / "spz" / "statue.glb", images=0)  # a mesh without its texture is not what nerfacto delivers
    untextured = evaluate_check("spz", "spz_reads_back", tmp_path / "spz", metrics)
    assert not untextured.passed and "0 texture(s)" in untextured.description
    (splat / "mesh.glb").write_bytes(b"not a glb")
    with pytest.raises(StageError, match="not a binary glTF") as error:
        run_stage("spz", spec, {"splat": splat}, tmp_path / "spz2", {"output_name": "statue"})
    assert "re-run" in (error.value.hint or "")
