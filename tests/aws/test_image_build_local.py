"""infra/image/build_local.sh and the Dockerfile's build arguments it relies on, statically (CI has no
Docker engine): production defaults stay in place, the local base and the CPU-only variant are arguments,
the host's CA is mounted for the build and never copied, the script builds the repository's Dockerfile.
The image itself is built and run by tests/aws/test_sagemaker_pipeline.py::test_full_run_in_the_built_image.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from .test_dockerfile import _args, instructions

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "image" / "build_local.sh"
DEVEL = ROOT / "infra" / "image" / "cuda-devel-local.Dockerfile"


def _podman_build_lines() -> list[str]:
    """The `podman build` commands of the script, continuation lines joined."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if "podman build" in line and not line.lstrip().startswith("#")]


def test_production_defaults_stay_and_the_variant_is_an_argument():
    args = _args()
    assert args["CUDA_IMAGE"].startswith("nvidia/cuda:") and args["RUNTIME_IMAGE"].startswith("nvidia/cuda:")
    assert args["KERNELS"] == "cuda"  # the default build compiles the kernels
    assert args["CUDA_ARCHS"] == '""' and args["COMPILE_JOBS"] == '""'  # empty: the ENV's production values
    runs = [i.args for i in instructions() if i.keyword == "RUN" and i.stage == 0]
    (gsplat,) = [r for r in runs if "--no-binary gsplat" in r]
    assert gsplat.startswith('case "${KERNELS}" in cuda) ;; none)') and "KERNELS must be cuda or none" in gsplat
    (fused,) = [r for r in runs if "/build/fused-ssim" in r]
    assert fused.startswith('if [ "${KERNELS}" = none ]; then exit 0; fi')
    # the wheels come before the variant is declared, so both variants share that layer
    kernels = next(i.line for i in instructions() if i.keyword == "ARG" and i.args.startswith("KERNELS"))
    wheels = next(i.line for i in instructions() if i.keyword == "RUN" and "-r /build/wheels-gpu.txt" in i.args)
    assert wheels < kernels


def test_an_unknown_kernels_value_fails_the_build_step():
    (gsplat,) = [i.args for i in instructions() if i.keyword == "RUN" and "--no-binary gsplat" in i.args]
    step = gsplat.split(" && ")[0]  # the case statement alone, as the build's shell runs it
    for value, code in (("cuda", 0), ("none", 0), ("gpu", 1)):
        result = subprocess.run(["sh", "-c", step], env={**os.environ, "KERNELS": value}, capture_output=True)
        assert result.returncode == code, (value, result.stderr)
    assert b"KERNELS must be cuda or none, not 'gpu'" in result.stderr


def test_the_script_builds_the_repository_dockerfile_with_a_local_base():
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    image_build = [line for line in _podman_build_lines() if "container/Dockerfile" in line]
    assert len(image_build) == 1
    words = shlex.split(image_build[0])
    assert words[words.index("-f") + 1] == "${ROOT}/container/Dockerfile"
    assert words[-1] == "${ROOT}"  # the repository root is the build context, as in production
    assert "--ignorefile" in words and words[words.index("--ignorefile") + 1].endswith("Dockerfile.dockerignore")
    text = SCRIPT.read_text()
    for argument in ("RUNTIME_IMAGE=${BASE}", "CUDA_IMAGE=${DEVEL}", "CUDA_IMAGE=${BASE}", "KERNELS=${KERNELS}"):
        assert f'"{argument}"' in text, argument
    assert re.search(r"debootstrap .*--keyring=", text.replace("\\\n", " "))  # a verified base, not --no-check-gpg
    assert "--no-check-gpg" not in text


def test_the_host_ca_is_mounted_for_the_build_never_copied():
    (image_build,) = [line for line in _podman_build_lines() if "container/Dockerfile" in line]
    words = shlex.split(image_build)
    assert words[words.index("-v") + 1] == "${PIP_CA}:/run/host-ca.crt:ro"
    assert "PIP_CERT=/run/host-ca.crt" in words
    for ins in instructions():
        assert not (ins.keyword in ("COPY", "ADD") and ("crt" in ins.args or "pem" in ins.args)), ins
    # the CA path is a build argument of the build stage only: the runtime stage never sees it
    assert [i.stage for i in instructions() if i.keyword == "ARG" and i.args.startswith("PIP_CERT")] == [0]


def test_the_local_devel_base_brings_a_cuda_12_compiler():
    text = DEVEL.read_text()
    assert "nvidia-cuda-toolkit" in text and "nvcc --version" in text
    assert "ENV CUDA_HOME=/usr" in text


def test_what_the_build_fetches_from_github_can_come_from_a_local_clone():
    """github.com is unreachable here: each source the Dockerfile fetches from it is a build argument with
    github.com's address as its default, which the script points at a read-only mount of a local copy."""
    text = SCRIPT.read_text()
    stand_ins = re.findall(r'"([A-Z_]+) ([A-Z_]+) ([\w.-]+)"', text)
    assert {argument for _, argument, _ in stand_ins} == {
        "FUSED_SSIM_REPOSITORY",
        "GRUT_REPOSITORY",
        "OPTIX_REPOSITORY",
        "SLANG_ARCHIVE",
    }
    args, header = _args(), text.split("set -euo pipefail")[0]
    for setting, argument, _ in stand_ins:
        assert args[argument].startswith("https://github.com/"), argument  # production fetches upstream
        assert setting in header, setting  # documented with the script's settings
    assert 'build_args+=(-v "${!setting}:/run/${name}:ro" --build-arg "${argument}=file:///run/${name}")' in text
    # the Slang release is checked, so a stand-in of another release must say which
    (slang,) = [i.args for i in instructions() if i.keyword == "RUN" and "${SLANG_ARCHIVE}" in i.args]
    assert 'test "$(/build/slang/bin/slangc -version 2>&1)" = "${SLANG_VERSION}"' in slang
