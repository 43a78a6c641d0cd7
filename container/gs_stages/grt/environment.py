"""Where 3DGRUT's environment is, whether this build has it, and what to do when it does not.

3DGRUT (github.com/nv-tlabs/3dgrut, Apache-2.0) is pinned at one commit, built by container/Dockerfile
into /opt/venvs/3dgrut (its source tree at /opt/3dgrut, installed editable: its ray tracer compiles OptiX
programs from the .cu files of that tree at run time, through NVRTC). Which Python runs it: the engine
setting `grt_python`, else GS_3DGRUT_PYTHON, else the image's. There is no make-built venv as for
nerfstudio: 3DGRUT is not on PyPI and its extensions need nvcc and a GPU, so a development machine names
an environment built with 3DGRUT's own install script (docs/DEPLOYING.md, "3dgrt").

What we rely on in its source, at GRUT_COMMIT:
* `configs/apps/colmap_3dgrt.yaml` (base_gs + dataset colmap + initialization colmap + render 3dgrt),
  composed by hydra as `train.py` does; `train.py:24` registers the `int_list` resolver it needs.
* `threedgrut/datasets/dataset_colmap.py`: reads `<path>/sparse/0/{cameras,images}.bin`, the images from
  `<path>/images[_<downsample_factor>]/<name>` (`get_images_folder`), a mask beside each image as
  `<stem>_mask.png` (`_store_camera_params_cpu`, 255 = used, `__getitem__`/`get_gpu_batch...`: > 0.5 after
  / 255), and holds out image i of the name-sorted list when i % test_split_interval == 0 (`reload`;
  `read_colmap_extrinsics_binary` returns the images sorted by name).
* `threedgrut/trainer.py` `on_training_end`: `export_ply.path` gets the PLY, the run folder
  `<out_dir>/<experiment_name>/<object>-<timestamp>/` gets `ckpt_last.pt`, and `test_last` runs
  `threedgrut/render.py` `Renderer.render_all`, which writes `metrics.json` (mean_psnr, mean_ssim,
  mean_lpips) for the test split.
* `threedgrut/export/formats/ply.py` `PLYExporter._write_ply`: the standard 3DGS vertex layout, values
  before activation (`get_attributes(preactivation=True)`): logit opacity (sigmoid), log scales (exp),
  rot_0..3 = w, x, y, z unnormalised, f_dc = SH DC, f_rest channel-major, nx ny nz = 0 0 1 placeholders;
  colour = SH + 0.5 clamped at 0 (`threedgrt_tracer/.../common/sphericalHarmonics.slang`).
* `threedgrt_tracer/tracer.py` `load_3dgrt_plugin`: imports a prebuilt `threedgrt_tracer.lib3dgrt_cc`
  before compiling (`setup_3dgrt.py`: slangc, then torch's JIT build); the image builds it once (`grt_run.py
  --build`) and places it there, so no job compiles at start.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gs_stages.stage import NotAvailableError, StageError

#: 3DGRUT's commit (main, 2026-07-08, "Fix NHT GUI rendering and timings (#261)"), version 2.0.0.
GRUT_COMMIT = "a37ef721012dea0f29c0fcfff2d525023b4e854a"
#: Its OptiX headers: the submodule threedgrt_tracer/dependencies/optix-dev (NVIDIA/optix-dev) at this commit.
OPTIX_DEV_COMMIT = "4bcbb37d69476e3be620c1453b4ea729fb5e8f7a"
PYTHON_SETTING = "grt_python"
PYTHON_ENV = "GS_3DGRUT_PYTHON"
IMAGE_PYTHON = Path("/opt/venvs/3dgrut/bin/python")
#: Engine settings of the 3dgrt path (splat/settings.py lists them with the splat stage's).
SETTINGS = (PYTHON_SETTING, "grt_overrides")
DOCS = "docs/DEPLOYING.md (section 3dgrt)"
HINT = (
    f"build NVIDIA 3DGRUT's environment as {DOCS} says (the GPU image has it at {IMAGE_PYTHON}), and name its "
    f"Python with the engine setting {PYTHON_SETTING} or {PYTHON_ENV}"
)
#: What the probe imports: the trainer and the ray tracer's Python side (no GPU needed to import them).
PROBE = "import threedgrut.trainer, threedgrt_tracer.tracer, hydra"


def configured_python(settings: Mapping[str, Any]) -> str:
    """The interpreter 3dgrt would run with: the setting, else the variable, else the image's."""
    return str(settings.get(PYTHON_SETTING) or os.environ.get(PYTHON_ENV) or IMAGE_PYTHON).strip()


def missing(settings: Mapping[str, Any]) -> str | None:
    """Why this machine cannot run 3dgrt (its Python is absent), or None; a file check, for intake."""
    python = configured_python(settings)
    if Path(python).is_file():
        return None
    return f"needs NVIDIA 3DGRUT's environment (its OptiX ray tracer); {python} does not exist"


def grt_python(settings: Mapping[str, Any]) -> str:
    """The interpreter of 3DGRUT's environment, checked to import 3DGRUT (before the stage reads anything)."""
    reason = missing(settings)
    if reason:
        raise NotAvailableError(f"training.model '3dgrt' is not available in this build: it {reason}", HINT)
    python = configured_python(settings)
    probe = subprocess.run([python, "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageError(f"training.model 3dgrt: {python} cannot import 3DGRUT: {last}", HINT)
    return python
