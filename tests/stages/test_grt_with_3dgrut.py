"""training.model 3dgrt: 3DGRUT's own Python code on what the adapter writes and on what it reads back,
on the CPU (no CUDA extension): its ColmapDataset reads our folder, hydra composes the runner's request over
its own configs, a .ply from its own exporter comes back in our convention, and the runner's LPIPS switch
reaches the class its trainer and renderer import.

Opt-in, as the other external environments: GS_3DGRUT_PYTHON names a Python with 3DGRUT's code
(`bench/grt_prepare.sh`, which lays out its pinned source from a mirror, then `make grt-cpu`); without it
these tests skip, or fail under GS_TEST_EXTERNAL_VENVS.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pycolmap
import pytest

from gs_stages.export.ply import read_ply
from gs_stages.grt import trainer
from gs_stages.grt.dataset import write_grt_input
from gs_stages.grt.environment import PYTHON_ENV
from gs_stages.splat.settings import EngineSettings

from .splat_scenes import make_scene

PROBE = Path(__file__).with_name("grt_probe.py")


@pytest.fixture()
def grut_python() -> str:
    """3DGRUT's Python: its code importable, no GPU needed (bench/grt_prepare.sh + GS_3DGRUT_PYTHON, or the image's)."""
    python = os.environ.get(PYTHON_ENV, "")
    if not Path(python).is_file():
        message = f"3DGRUT's environment is not here: set {PYTHON_ENV} (docs/DEPLOYING.md, 3dgrt)"
        if os.environ.get("GS_TEST_EXTERNAL_VENVS"):
            pytest.fail(message + " (GS_TEST_EXTERNAL_VENVS is set)")
        pytest.skip(message)
    return python


def _probe(python: str, *args: str) -> dict:
    done = subprocess.run([python, str(PROBE), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_3dgrut_reads_our_input(tmp_path: Path, grut_python: str) -> None:
    """3DGRUT's own ColmapDataset (train and test splits) reads the folder we write."""
    scene = make_scene(tmp_path / "scene", n_cameras=10, width=64, height=48, masks=True)
    grt = write_grt_input(scene.frames, scene.sparse, scene.masks, tmp_path / "data", test_every=8, factor=2)
    found = _probe(grut_python, "dataset", str(grt.data), "2", "8")
    assert found["train"]["names"] == grt.train and found["test"]["names"] == grt.test
    assert found["train"]["masks"] == len(grt.train) and found["train"]["size"] == [32, 24]
    # and trains in our world: every camera where SfM put it (round 8's 3dgrt learned nothing; not from the poses)
    reconstruction = pycolmap.Reconstruction(str(scene.sparse / "sparse" / "0"))
    centres = {image.name: image.projection_center() for image in reconstruction.images.values()}
    for split in ("train", "test"):
        names = found[split]["names"]
        normalization = np.asarray(found[split]["normalization"])
        ours = np.array([normalization[:3, :3] @ centres[name] + normalization[:3, 3] for name in names])
        np.testing.assert_allclose(np.asarray(found[split]["centres"]), ours, atol=1e-4)


def test_3dgruts_config_takes_our_overrides_and_holds_out_our_views(tmp_path: Path, grut_python: str) -> None:
    """The runner's request composed by hydra over 3DGRUT's own configs (an unknown key would fail), and
    the held-out views the runner reports from 3DGRUT's test dataset: ours."""
    scene = make_scene(tmp_path / "scene", n_cameras=11, width=64, height=48)
    settings = EngineSettings.from_mapping({"test_every": 4, "seed": 2, "image_downscale": 2})
    grt, _ = trainer.prepare(scene.frames, scene.sparse, None, tmp_path / "work", 321, settings, {})
    found = _probe(grut_python, "runner", str(tmp_path / "work" / "request.json"))
    resolved = found["resolved"]
    assert (resolved["n_iterations"], resolved["dataset.test_split_interval"], resolved["seed_initialization"]) == (
        321,
        4,
        2,
    )
    assert resolved["dataset.downsample_factor"] == 2 and resolved["path"] == str(grt.data)
    assert (resolved["render.method"], resolved["render.particle_kernel_degree"]) == ("3dgrt", 2)
    # a name the tracer knows: an unknown one silently falls back to `instances`, which traces nothing (round 9)
    assert resolved["render.primitive_type"] == "icosahedron" and "icosahedron" in found["primitive_types"]
    assert resolved["export_ply.enabled"] and resolved["export_ply.path"] == str(tmp_path / "work" / "export_last.ply")
    assert resolved["checkpoint.iterations"] == [] and resolved["test_last"] and resolved["dataset.load_exif"] is False
    assert resolved["model.background.color"] == "black"  # the held-out PSNR is over black, as splatfacto's
    assert found["held_out"] == grt.test == [n for i, n in enumerate(sorted(scene.names)) if i % 4 == 0]


def test_a_ply_from_3dgruts_own_exporter_comes_back_in_our_convention(tmp_path: Path, grut_python: str) -> None:
    _probe(grut_python, "ply", str(tmp_path / "export_last.ply"), str(tmp_path / "written.npz"))
    written = np.load(tmp_path / "written.npz")

    kept = trainer.convert_ply(tmp_path / "export_last.ply", tmp_path / "splat.ply")

    assert kept == {"exported": 40, "kept": 39, "sh_degree": 3}
    ours, rows = read_ply(tmp_path / "splat.ply"), np.arange(40) != 7
    assert np.array_equal(ours.means, written["positions"][rows]) and np.array_equal(
        ours.quats, written["rotations"][rows]
    )
    assert np.array_equal(ours.scales, written["scales"][rows])
    assert np.array_equal(ours.opacities, written["densities"][rows, 0])
    assert np.array_equal(ours.sh[:, 0], written["albedo"][rows])
    # its features_specular [N, 15*3]: coefficient k of channel c at 3k + c (the exporter's (M, 3) reshape)
    assert np.array_equal(ours.sh[:, 1:], written["specular"][rows].reshape(-1, 15, 3))


def test_the_runners_lpips_switch_reaches_3dgruts_renderer(grut_python: str) -> None:
    """Without VGG weights (3DGRUT would download them) its held-out pass gets an LPIPS of NaN, reported absent."""
    found = _probe(grut_python, "lpips")
    assert "vgg16" in found["reason"]
    for name in ("trainer.py", "render.py"):
        assert found[name]["class"] == "NaNLPIPS" and found[name]["nan"], found[name]["import"]


def test_a_run_whose_render_settings_differ_from_the_prebuilt_tracers_is_refused(
    tmp_path: Path, grut_python: str
) -> None:
    """The image's tracer is compiled for tracer_config.json; 3DGRUT would load it whatever the config says."""
    scene = make_scene(tmp_path / "scene", n_cameras=9, width=64, height=48)
    settings = EngineSettings.from_mapping({})
    requests = {}
    for name, overrides in (
        ("same", ["strategy.densify.frequency=100"]),
        ("other", ["render.particle_kernel_degree=4"]),
    ):
        trainer.prepare(scene.frames, scene.sparse, None, tmp_path / name, 10, settings, {"grt_overrides": overrides})
        requests[name] = str(tmp_path / name / "request.json")
    found = _probe(grut_python, "prebuilt", requests["same"], requests["other"])
    assert found[requests["same"]] is None
    assert "compiled for other render settings" in found[requests["other"]]
    assert "tracer_config.json" in found[requests["other"]]
