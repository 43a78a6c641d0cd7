"""nerfacto's memory on a CPU, and what the stage says when nerfstudio dies.

A CPU run of nerfstudio's nerfacto was killed by the OOM killer while it textured the mesh (9.7 GB resident:
its 32768-ray render chunk through the PyTorch hash grid, with the normals' gradient), and the stage said only
nerfstudio's last lines. These tests run the splat stage with an interpreter standing in for nerfstudio's venv
that records the request the stage sends and then ends as the real one did (SIGKILL) or with an error status:
the request carries the CPU bounds (the user's engine settings win), and the stage's error names the signal,
the likely cause and the settings that lower the memory. The real training under those bounds, and its
measured peak: test_nerfacto.py's end-to-end test and docs/BENCHMARKS.md ("nerfacto on the CPU").
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gs_stages.cli import run_stage
from gs_stages.nerf.trainer import CPU_EXPORT, CPU_RAY_CHUNK
from gs_stages.stage import StageError

from .jobs import make_spec
from .splat_scenes import make_scene


def _stand_in(tmp_path: Path, ending: str) -> Path:
    """An interpreter that passes the stage's import probe, keeps the request, prints a line and ends so."""
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-c" ]; then exit 0; fi\n'  # the probe: `python -c "import nerfstudio.scripts.train"`
        f'cp "$2" "{tmp_path}/request-seen.json"\n'
        'echo "Creating texture image by rendering with NeRF..."\n'
        f"{ending}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _run(tmp_path: Path, python: Path, **settings) -> None:
    scene = make_scene(tmp_path / "scene", n_cameras=6, width=32, height=24)
    spec = make_spec(**{"training.model": "nerfacto", "training.maxSteps": 5})
    inputs = {"frames": scene.frames, "sparse_model": scene.sparse}
    settings = {"device": "cpu", "nerfstudio_python": str(python), **settings}
    run_stage("splat", spec, inputs, tmp_path / "splat", settings)


def test_a_kill_is_named_with_its_likely_cause_and_the_settings_that_bound_memory(tmp_path: Path) -> None:
    with pytest.raises(StageError) as caught:
        _run(tmp_path, _stand_in(tmp_path, "kill -9 $$"))
    text = str(caught.value)
    assert "killed by SIGKILL (most likely the out-of-memory killer" in text
    assert "Creating texture image by rendering with NeRF" in text  # where it was
    assert "num_pixels_per_side" in caught.value.hint and "eval_num_rays_per_chunk" in caught.value.hint

    request = json.loads((tmp_path / "request-seen.json").read_text())
    assert request["model_overrides"] == {"eval_num_rays_per_chunk": CPU_RAY_CHUNK}
    assert request["export"] == {**CPU_EXPORT, "num_rays_per_batch": CPU_RAY_CHUNK}


def test_the_engine_settings_override_the_cpu_bounds_and_an_error_status_is_reported(tmp_path: Path) -> None:
    settings = {
        "nerfacto_export": {"num_pixels_per_side": 128},
        "nerfacto_overrides": {"model": {"eval_num_rays_per_chunk": 1024}, "datamanager": {"x": 1}},
    }
    with pytest.raises(StageError, match=r"failed \(exit status 3\): Creating texture"):
        _run(tmp_path, _stand_in(tmp_path, "exit 3"), **settings)
    request = json.loads((tmp_path / "request-seen.json").read_text())
    assert request["model_overrides"] == {"eval_num_rays_per_chunk": 1024}
    assert request["export"]["num_pixels_per_side"] == 128
    assert request["export"]["target_num_faces"] == CPU_EXPORT["target_num_faces"]
    assert request["datamanager_overrides"] == {"x": 1}
