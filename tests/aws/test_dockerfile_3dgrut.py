"""container/Dockerfile's NVIDIA 3DGRUT stage (training.model 3dgrt), statically: built at the commit the
stage code pins, its ray tracer compiled at image build for sm_86/89/90 with the render settings the stage
runs with, where 3DGRUT imports it first; the runtime carries its source, CUDA's headers for NVRTC and the
driver's OptiX (the graphics capability). No Docker engine here: the build itself runs in the GPU round."""

from __future__ import annotations

import json
import re
import shlex

from gs_stages.grt import environment, trainer

from .test_dockerfile import ROOT, RUNTIME, _args, _env, instructions, pins

VENV = "/opt/venvs/3dgrut"


def _grut_runs() -> list[str]:
    return [i.args for i in instructions() if i.keyword == "RUN" and i.stage == 0 and VENV in i.args]


def test_3dgrut_is_built_at_the_commit_the_stage_pins() -> None:
    args = _args()
    assert args["GRUT_COMMIT"] == environment.GRUT_COMMIT and args["GRUT_REPOSITORY"].endswith("nv-tlabs/3dgrut.git")
    assert re.fullmatch(r"[0-9a-f]{40}", args["GRUT_FUSED_SSIM_COMMIT"])
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", args["SLANG_VERSION"])
    (source,) = [r for r in _grut_runs() if "${GRUT_REPOSITORY}" in r]
    # the pinned commit alone (GitHub serves a commit by its hash), then checked out by that hash
    assert 'fetch --depth 1 "${GRUT_REPOSITORY}" "${GRUT_COMMIT}"' in source
    assert 'checkout --detach "${GRUT_COMMIT}"' in source
    # the OptiX headers: the submodule at the commit the pinned superproject records (no branch, no tag)
    submodule = "threedgrt_tracer/dependencies/optix-dev"
    assert f"submodule init {submodule}" in source and f"submodule update {submodule}" in source
    assert f'config submodule.{submodule}.url "${{OPTIX_REPOSITORY}}"' in source  # github.com's unless a clone is named
    assert _args()["OPTIX_REPOSITORY"] == "https://github.com/NVIDIA/optix-dev.git"
    assert f"pip install --no-deps --no-build-isolation -e {VENV}/src" in source  # its pins: the requirements file
    assert 'checkout --detach "${GRUT_FUSED_SSIM_COMMIT}"' in source


def test_its_environment_is_pinned_and_is_where_the_stage_looks() -> None:
    (venv,) = [r for r in _grut_runs() if "venv-shared-torch.sh new" in r]
    assert f"venv-shared-torch.sh new {VENV}" in venv  # on the image's one torch (test_dockerfile_torch)
    assert f"{VENV}/bin/pip install -r /build/requirements-3dgrut-gpu.txt" in venv
    assert str(environment.IMAGE_PYTHON) == f"{VENV}/bin/python"
    grut, stage = pins("requirements-3dgrut-gpu.txt"), pins("requirements-gpu.txt")
    for shared in (
        "torch",
        "torchvision",
        "nvidia-cuda-runtime-cu12",
        "nvidia-cuda-nvrtc-cu12",
        "hydra-core",
        "omegaconf",
    ):
        assert grut[shared] == stage[shared], shared  # the image's CUDA 12.8 torch, NVRTC of the same release
    for needed in ("nvidia-ncore", "plyfile", "torchmetrics", "kornia", "simplejpeg", "addict", "scikit-learn"):
        assert needed in grut, needed  # imported by its COLMAP dataset, trainer or model


def test_the_tracer_is_compiled_at_build_time_for_the_target_gpus() -> None:
    arches = _env(stage=0)["TORCH_CUDA_ARCH_LIST"].split(";")
    assert {"8.6", "8.9", "9.0"} <= set(arches)  # g5 (A10G), g6/g6e (L4, L40S), p5 and the H200
    copies = [shlex.split(i.args) for i in instructions() if i.keyword == "COPY" and "/build/grt/" in i.args]
    assert copies == [
        ["container/gs_stages/grt/grt_run.py", "container/gs_stages/grt/tracer_config.json", "/build/grt/"]
    ]
    assert trainer.TRACER_CONFIG == ROOT / "container/gs_stages/grt/tracer_config.json"  # what jobs run with
    (build,) = [r for r in _grut_runs() if "grt_run.py --build" in r]
    assert 'TORCH_CUDA_ARCH_LIST="${CUDA_ARCHS:-$TORCH_CUDA_ARCH_LIST}"' in build
    assert "/build/grt/grt_run.py --build /build/grt/tracer_config.json" in build
    # where load_3dgrt_plugin imports it before compiling, and the header slangc generated for NVRTC
    assert f"test -f {VENV}/src/threedgrt_tracer/lib3dgrt_cc.so" in build
    assert f"test -f {VENV}/src/threedgrt_tracer/include/3dgrt/kernels/slang/gaussianParticles.cuh" in build
    assert "import threedgrut.trainer, threedgrt_tracer.lib3dgrt_cc, fused_ssim" in build
    config = json.loads(trainer.TRACER_CONFIG.read_text())
    assert config["config_name"] == "apps/colmap_3dgrt" and "render.particle_kernel_degree=2" in config["overrides"]


def test_the_runtime_has_what_the_tracer_loads_at_run_time() -> None:
    (build,) = [r for r in _grut_runs() if "grt_run.py --build" in r]
    # grt_run.py sets CUDA_HOME to sys.prefix/cuda when it holds include/ (NVRTC compiles the OptiX programs)
    # the nvidia/cuda devel base's headers; a toolkit elsewhere names itself in CUDA_HOME (the local stand-in)
    assert 'cuda="${CUDA_HOME:-/usr/local/cuda}"' in build and 'headers="${cuda}/targets/x86_64-linux/include"' in build
    assert f'cp -r "${{headers}}" {VENV}/cuda/include' in build
    runtime_copies = [shlex.split(i.args) for i in instructions() if i.keyword == "COPY" and i.stage == RUNTIME]
    assert ["--from=build", "/opt/venvs", "/opt/venvs"] in runtime_copies  # the source tree lives in the venv
    capabilities = _env(stage=RUNTIME)["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    assert {"compute", "utility", "graphics"} <= set(capabilities)  # graphics mounts libnvoptix


def test_the_cpu_variant_leaves_3dgrut_out() -> None:
    for run in _grut_runs():
        assert run.startswith('if [ "${KERNELS}" = none ]; then exit 0; fi'), run[:80]
