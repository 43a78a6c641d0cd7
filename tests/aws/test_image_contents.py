"""What a built image holds (slow: needs the image infra/image/build_local.sh makes, in Docker; GS_TEST_IMAGE
names it, as tests/aws/image_run.py reads it): one torch, which every venv imports, each venv's own
pins above it, the CUDA kernels of the cuda variant importable, and the size every training job pulls."""

from __future__ import annotations

import json
import subprocess

import pytest

from .image_run import built_image
from .test_dockerfile import pins

IMAGE = built_image()
SHARED_SITE = "/opt/torch/lib/python3.12/site-packages"
REFERENCE_IMAGE_BYTES = 15e9  # the AWS reference's training image (issue #17)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image() -> str:
    if why := IMAGE.available():
        pytest.skip(why)
    return IMAGE.image


def _inspect(image: str) -> dict:
    out = subprocess.run([IMAGE.docker, "image", "inspect", image], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def _kernels(image: str) -> str:
    labels = _inspect(image).get("Config", {}).get("Labels") or {}
    return labels["io.gs-dagster.kernels"]


def _in_image(image: str, python: str, code: str) -> str:
    """Run `code` with one of the image's interpreters, as the image's user, without a GPU."""
    command = [*IMAGE.run(), "--rm", "--network", "none", "--user", "gs", "--entrypoint", python, image]
    result = subprocess.run([*command, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _venvs(image: str) -> dict[str, str]:
    venvs = {"/opt/venvs/gs": "requirements-gpu.txt", "/opt/venvs/nerfstudio": "requirements-nerfstudio-gpu.txt"}
    if _kernels(image) == "cuda":  # the CPU variant leaves 3DGRUT out
        venvs["/opt/venvs/3dgrut"] = "requirements-3dgrut-gpu.txt"
    return venvs


def test_every_venv_imports_the_one_torch_and_keeps_its_own_pins(image):
    probe = "import json, numpy, torch; print(json.dumps([torch.__file__, torch.__version__, numpy.__version__]))"
    for venv, requirements in _venvs(image).items():
        torch_file, torch_version, numpy_version = json.loads(_in_image(image, f"{venv}/bin/python", probe))
        assert torch_file == f"{SHARED_SITE}/torch/__init__.py", venv
        assert torch_version.split("+")[0] == pins("requirements-torch-gpu.txt")["torch"]
        assert numpy_version == pins(requirements)["numpy"], venv  # nerfstudio's numpy 1 over the stages' 2


def test_the_image_holds_one_copy_of_torch_and_its_cuda_libraries(image):
    found = _in_image(
        image,
        "/opt/venvs/gs/bin/python",
        "import glob; site = 'lib/python3.12/site-packages/*';"
        " print('\\n'.join(sorted(glob.glob(f'/opt/*/{site}') + glob.glob(f'/opt/venvs/*/{site}'))))",
    ).split()
    for package in ("torch", "torchvision", "triton", "nvidia"):
        copies = [p for p in found if p.rsplit("/", 1)[1] == package]
        assert copies == [f"{SHARED_SITE}/{package}"], copies


def test_the_cuda_variant_carries_its_compiled_kernels(image):
    if _kernels(image) != "cuda":
        pytest.skip("the CPU-only variant (KERNELS=none) compiles no kernels")
    _in_image(
        image, "/opt/venvs/gs/bin/python", "import gsplat.csrc, fused_ssim, gs_stages.sagemaker_entry, sam2.build_sam"
    )
    _in_image(image, "/opt/venvs/nerfstudio/bin/python", "import nerfstudio.scripts.train, nerfstudio.scripts.exporter")
    # the tracer links libcuda, which only a GPU host mounts: here its files, and 3DGRUT's trainer sources
    _in_image(
        image,
        "/opt/venvs/3dgrut/bin/python",
        "import pathlib, fused_ssim, threedgrut; src = pathlib.Path('/opt/venvs/3dgrut/src/threedgrt_tracer');"
        " assert (src / 'lib3dgrt_cc.so').is_file() and (src / 'include/3dgrt/kernels/slang/gaussianParticles.cuh')"
        ".is_file(); assert pathlib.Path('/opt/venvs/3dgrut/cuda/include/cuda_runtime.h').is_file()",
    )


def test_the_image_is_under_the_reference_s_size(image):
    size = _inspect(image)["Size"]
    print(f"{image}: {size / 1e9:.2f} GB")
    assert size < REFERENCE_IMAGE_BYTES
