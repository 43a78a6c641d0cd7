"""container/Dockerfile, statically (no Docker engine here): it parses, every COPY source exists and is in
the build context, the CUDA base matches the pinned torch, gsplat is compiled at build time for
sm_80/86/89/90, every version is pinned and resolves from the registry, the entrypoint module exists."""

from __future__ import annotations

import json
import re
import shlex
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "container"
DOCKERFILE = CONTAINER / "Dockerfile"
REQUIREMENT_FILES = ("requirements-gpu.txt", "requirements-3dgrut-gpu.txt")
#: --no-binary in the Dockerfile; iopath 0.1.10 (sam2 needs it) is published as an sdist only.
BUILT_FROM_SOURCE = {"gsplat", "nerfacc", "iopath"}
INSTRUCTIONS = {
    "FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "LABEL", "WORKDIR", "USER", "ENTRYPOINT", "CMD",
    "HEALTHCHECK", "EXPOSE", "VOLUME", "SHELL", "STOPSIGNAL", "ONBUILD",
}  # fmt: skip
ARCHES = ("8.0", "8.6", "8.9", "9.0")
RUNTIME_TORCH = 2  # `FROM ${RUNTIME_IMAGE} AS runtime-torch`: the runtime base with the one torch
RUNTIME = 3  # the stage index of `FROM runtime-torch AS runtime` (build 0, splat-transform 1)


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (enough for this Dockerfile)."""
    instructions: list[Instruction] = []
    stage = -1
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword not in INSTRUCTIONS:
            raise ValueError(f"line {start}: unknown instruction {keyword!r}")
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(start, keyword, " ".join(args.split()), stage))
    if pending:
        raise ValueError("the file ends inside a continued line")
    return instructions


@cache
def instructions() -> tuple[Instruction, ...]:
    return tuple(parse_dockerfile(DOCKERFILE.read_text()))


def _args() -> dict[str, str]:
    found = {}
    for ins in instructions():
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            found[name] = value
    return found


def _env(stage: int) -> dict[str, str]:
    env = {}
    for ins in instructions():
        if ins.keyword == "ENV" and ins.stage == stage:
            for token in shlex.split(ins.args):
                name, _, value = token.partition("=")
                env[name] = value
    return env


def pins(name: str) -> dict[str, str]:
    """`package==version` lines of one requirements/constraints file (anything else is an error)."""
    found = {}
    for number, raw in enumerate((CONTAINER / name).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        assert match, f"{name}:{number}: not an exact pin: {line!r}"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def test_dockerfile_parses_into_its_stages_on_pinned_cuda_bases():
    """Compile on the devel image; run on the base flavour of the same CUDA release and Ubuntu."""
    parsed = instructions()
    froms = [i for i in parsed if i.keyword == "FROM"]
    assert [f.args for f in froms] == [
        "${CUDA_IMAGE} AS build",
        "${NODE_IMAGE} AS splat-transform",
        "${RUNTIME_IMAGE} AS runtime-torch",
        "runtime-torch AS runtime",
    ]
    build = re.fullmatch(r"nvidia/cuda:(\d+\.\d+\.\d+)-cudnn-devel-(ubuntu\d+\.\d+)", _args()["CUDA_IMAGE"])
    runtime = re.fullmatch(r"nvidia/cuda:(\d+\.\d+\.\d+)-base-(ubuntu\d+\.\d+)", _args()["RUNTIME_IMAGE"])
    assert build and runtime, _args()
    assert build.groups() == runtime.groups()  # the kernels' CUDA release and glibc are the runtime's
    assert "latest" not in DOCKERFILE.read_text().lower().replace("latest tag", "")


def test_the_runtime_image_carries_only_the_stage_environment():
    """Only the venvs reach the runtime stage (no compilers): /opt/venvs/gs, and /opt/venvs/nerfstudio for
    nerfacto, whose pins fight the stage venv's, both on the one torch of /opt/torch, a layer of its own
    below them (test_dockerfile_torch); what the runtime base image lacks (cuDNN, cuBLAS, ...) comes pinned
    with torch's wheels. Besides them only node's binary and the installed splat-transform (the .sog
    writer), not npm or the node image."""
    (runtime_torch,) = [i for i in instructions() if i.keyword == "FROM" and i.stage == RUNTIME_TORCH]
    (runtime,) = [i for i in instructions() if i.keyword == "FROM" and i.stage == RUNTIME]
    assert runtime_torch.args == "${RUNTIME_IMAGE} AS runtime-torch" and runtime.args == "runtime-torch AS runtime"
    copies = [shlex.split(i.args) for i in instructions() if i.keyword == "COPY" and i.stage == RUNTIME_TORCH]
    assert copies == [["--from=build", "/opt/torch", "/opt/torch"]]
    copies = [shlex.split(i.args) for i in instructions() if i.keyword == "COPY" and i.stage == RUNTIME]
    assert copies == [
        ["--from=build", "/opt/venvs", "/opt/venvs"],
        ["--from=splat-transform", "/usr/local/bin/node", "/usr/local/bin/node"],
        ["--from=splat-transform", "/opt/splat-transform", "/opt/splat-transform"],
    ]
    runs = [i.args for i in instructions() if i.keyword == "RUN"]
    venvs = {m for r in runs for m in re.findall(r"(?:-m venv|venv-shared-torch\.sh new) (/opt/[\w/-]+)", r)}
    # 3dgrut: test_dockerfile_3dgrut; the shared torch: test_dockerfile_torch
    assert venvs == {"/opt/torch", "/opt/venvs/gs", "/opt/venvs/nerfstudio", "/opt/venvs/3dgrut"}
    wheels = pins("requirements-gpu.txt")
    for library in ("nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cusparse-cu12"):
        assert library in wheels, library


def test_cuda_base_matches_the_pinned_torch():
    major, minor, _ = re.search(r":(\d+)\.(\d+)\.(\d+)-", _args()["CUDA_IMAGE"]).groups()
    runtime = pins("requirements-gpu.txt")[f"nvidia-cuda-runtime-cu{major}"]  # torch pins its CUDA runtime exactly
    assert runtime.split(".")[:2] == [major, minor], runtime
    assert pins("requirements-gpu.txt")["torch"] == "2.10.0"


def test_every_copy_source_exists_and_is_in_the_build_context():
    patterns = [
        line[1:].rstrip("/")
        for line in (CONTAINER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    copies = [i for i in instructions() if i.keyword == "COPY"]
    assert copies
    for ins in copies:
        tokens = shlex.split(ins.args)
        if any(t.startswith("--from=") for t in tokens):
            assert tokens[1].startswith(("/opt/", "/usr/local/bin/")), ins  # a path of an earlier stage
            continue
        *sources, _target = [t for t in tokens if not t.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"line {ins.line}: COPY source {source} does not exist"
            assert any(fnmatch(source, p) or source.startswith(p + "/") or source == p for p in patterns), (
                f"line {ins.line}: {source} is excluded by container/Dockerfile.dockerignore"
            )


def test_gsplat_is_compiled_at_build_time_for_the_target_gpus():
    build_env = _env(stage=0)
    assert build_env["TORCH_CUDA_ARCH_LIST"].split(";") == list(ARCHES)
    runs = [i.args for i in instructions() if i.keyword == "RUN" and i.stage == 0]
    gsplat = [r for r in runs if "/opt/venvs/gs/bin/pip install --no-deps --no-build-isolation --no-binary gsplat" in r]
    assert len(gsplat) == 1 and "find_spec('gsplat.csrc')" in gsplat[0]  # the build fails if it would JIT
    fused = [r for r in runs if "/build/fused-ssim" in r and "pip install" in r]
    assert len(fused) == 1 and 'checkout --detach "${FUSED_SSIM_COMMIT}"' in fused[0]
    assert "import fused_ssim" in fused[0]  # the SSIM kernel is compiled now, or the build fails
    assert _env(stage=RUNTIME)["TORCH_CUDA_ARCH_LIST"] == build_env["TORCH_CUDA_ARCH_LIST"]


def test_every_version_is_pinned():
    for name in REQUIREMENT_FILES:
        assert pins(name), name  # exact pins only (pins() asserts the form of every line)
    assert re.fullmatch(r"[0-9a-f]{40}", _args()["FUSED_SSIM_COMMIT"])
    for ins in instructions():
        if ins.keyword != "RUN":
            continue
        for command in ins.args.split("&&"):
            if "pip install" not in command:
                continue
            words = shlex.split(re.sub(r"\$\(grep .*?\.txt\)", "FROM_PINNED_FILE", command))
            rest = words[words.index("install") + 1 :]
            if "-c" in rest:  # everything named is pinned by the constraints file
                continue
            loose = [
                w
                for i, w in enumerate(rest)
                if not w.startswith("-") and rest[i - 1] not in ("-r", "-c", "--no-binary") and w != "FROM_PINNED_FILE"
                and not w.startswith("/")
            ]  # fmt: skip
            assert not loose, f"line {ins.line}: unpinned install {loose}"


def test_entrypoint_module_exists_and_the_stages_run_unprivileged():
    (entrypoint,) = [i for i in instructions() if i.keyword == "ENTRYPOINT"]
    (cmd,) = [i for i in instructions() if i.keyword == "CMD"]
    command = json.loads(entrypoint.args)
    assert command[:2] == ["/opt/venvs/gs/bin/python", "-m"] and json.loads(cmd.args) == ["train"]
    module = CONTAINER / (command[2].replace(".", "/") + ".py")
    assert module.is_file() and "def main(" in module.read_text()
    runtime_env = _env(stage=RUNTIME)
    user = runtime_env["GS_RUN_AS"]
    assert any(i.keyword == "RUN" and "useradd" in i.args and i.args.rstrip().endswith(user) for i in instructions())
    assert runtime_env["PATH"].startswith("/opt/venvs/gs/bin")


def test_the_image_carries_the_pinned_splat_transform_where_the_sog_export_looks():
    """The .sog on SageMaker: node 22 (splat-transform 3.10's engines), the package installed with `npm ci` from
    its lock at the version sog.py reports and the viewer pins, copied to the path sog.py tries in the image,
    and run once in the runtime stage, so an image whose node cannot start there does not build."""
    from gs_stages.export.sog import IMAGE_BIN, SPLAT_TRANSFORM_VERSION

    folder = CONTAINER / "splat-transform"
    wanted = json.loads((folder / "package.json").read_text())["dependencies"]
    assert wanted == {"@playcanvas/splat-transform": SPLAT_TRANSFORM_VERSION}
    viewer = json.loads((ROOT / "gs_dagster/viewer/web/package.json").read_text())["dependencies"]
    assert viewer["@playcanvas/splat-transform"] == SPLAT_TRANSFORM_VERSION
    locked = json.loads((folder / "package-lock.json").read_text())["packages"]
    package = locked["node_modules/@playcanvas/splat-transform"]
    assert package["version"] == SPLAT_TRANSFORM_VERSION and package["integrity"].startswith("sha512-")
    assert all(entry.get("integrity") for key, entry in locked.items() if key), "every package locked by hash"
    needs = int(re.fullmatch(r">=(\d+)\.\d+\.\d+", package["engines"]["node"]).group(1))
    node = re.fullmatch(r"node:(\d+)\.\d+\.\d+-bookworm-slim", _args()["NODE_IMAGE"])
    assert node and int(node.group(1)) >= needs, _args()["NODE_IMAGE"]

    runs = [i.args for i in instructions() if i.keyword == "RUN" and i.stage == 1]
    (install,) = [r for r in runs if "npm" in r]
    assert "npm ci --omit=dev --ignore-scripts" in install and "npm install" not in install
    assert str(IMAGE_BIN).startswith("/opt/splat-transform/") and IMAGE_BIN.name == "splat-transform"
    checks = [i.args for i in instructions() if i.keyword == "RUN" and i.stage == RUNTIME]
    assert f"{IMAGE_BIN} --version" in checks
    path = _env(stage=RUNTIME)["PATH"].replace("$PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
    assert "/usr/local/bin" in path.split(":"), "cli.mjs starts with `#!/usr/bin/env node`"


# -- the registry ------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip().endswith((".whl", ".tar.gz", ".zip")):
            self.files.append(data.strip())


def _read(url: str, headers: dict[str, str] | None = None, attempts: int = 4) -> str:
    """GET `url`, retrying transient network errors (CI's resolver drops some of many parallel lookups).

    An HTTP error (404: no such project) is an answer, not a network fault, and is raised at once.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "gs-dagster-tests", **(headers or {})})
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError):
            if attempt == attempts - 1:
                raise
            time.sleep(2.0 * 2**attempt)
    raise AssertionError("unreachable")


def _files(project: str) -> list[str]:
    parser = _Links()
    parser.feed(_read(f"https://pypi.org/simple/{project}/"))
    return parser.files


def _usable(filename: str, version: Version, sdist_ok: bool) -> bool:
    """A file of `version` that installs on the image: cp312 on Linux x86_64, or an sdist when built."""
    try:
        if filename.endswith(".whl"):
            _name, file_version, _build, tags = parse_wheel_filename(filename)
            return file_version == version and any(
                t.interpreter in ("cp312", "py3", "py312") or (t.abi == "abi3" and t.interpreter.startswith("cp3"))
                for t in tags
                if t.platform == "any" or ("linux" in t.platform and t.platform.endswith("x86_64"))
            )
        _name, file_version = parse_sdist_filename(filename)
        return sdist_ok and file_version == version
    except Exception:
        return False


def _registry_reachable() -> bool:
    try:
        _read("https://pypi.org/simple/pip/", attempts=3)
        return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_every_pin_resolves_from_the_registry():
    if not _registry_reachable():
        pytest.skip("pypi.org is not reachable from this machine: the pins were not checked against the registry")
    wanted = {(project, version) for name in REQUIREMENT_FILES for project, version in pins(name).items()}

    def missing(item: tuple[str, str]) -> str | None:
        project, version = item
        try:
            files = _files(project)
        except urllib.error.HTTPError as exc:
            return f"{project}: {exc.code}"
        sdist_ok = project in BUILT_FROM_SOURCE or not any(f.endswith(".whl") for f in files)
        if any(_usable(f, Version(version), sdist_ok or project.startswith("antlr4")) for f in files):
            return None
        return f"{project}=={version}: no file for cp312 linux x86_64" + (" or sdist" if sdist_ok else "")

    with ThreadPoolExecutor(max_workers=6) as pool:
        problems = [p for p in pool.map(missing, sorted(wanted)) if p]
    assert problems == []


@pytest.mark.slow
def test_torch_wheel_runs_on_the_base_image_cuda():
    """The pinned torch wheel's own CUDA runtime pin (PEP 658 metadata on PyPI) is the base image's CUDA."""
    if not _registry_reachable():
        pytest.skip("pypi.org is not reachable from this machine")
    version = pins("requirements-gpu.txt")["torch"]
    page = _read("https://pypi.org/simple/torch/", headers={"Accept": "text/html"})
    (url,) = set(re.findall(rf'href="([^"#]*torch-{re.escape(version)}-cp312-cp312-manylinux_2_28_x86_64\.whl)', page))
    metadata = _read(url + ".metadata")
    runtime = re.search(r"Requires-Dist: nvidia-cuda-runtime-cu(\d+)==(\d+)\.(\d+)", metadata)
    assert runtime, "torch's metadata names no CUDA runtime wheel"
    major, minor = runtime.group(2), runtime.group(3)
    assert re.search(rf":{major}\.{minor}\.\d+-", _args()["CUDA_IMAGE"]), (major, minor, _args()["CUDA_IMAGE"])
    assert pins("requirements-gpu.txt")[f"nvidia-cuda-runtime-cu{major}"].startswith(f"{major}.{minor}.")


def test_the_image_pins_every_package_the_engine_extra_needs() -> None:
    """The image installs gs-stages with --no-deps on top of requirements-gpu.txt, so a package the engine
    extra gained (torchmetrics for SSIM and LPIPS) must be pinned there too, or the stage fails to import."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((CONTAINER / "pyproject.toml").read_text())["project"]
    needed = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    needed |= {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["engine"]}
    missing = sorted(needed - set(pins("requirements-gpu.txt")))
    assert not missing, f"requirements-gpu.txt lacks {missing}"


def test_nerfstudio_s_system_libraries_are_in_the_build_check_and_the_runtime():
    """open3d, which nerfstudio's exporter imports, links libEGL, libGL, libX11, libudev and libusb: the build's
    import check fails without them (as it did in the first real build), and so would a nerfacto job."""
    libs = _args()["NERFSTUDIO_LIBS"].strip('"').split()
    assert {"libegl1", "libgl1", "libx11-6", "libudev1", "libusb-1.0-0"} <= set(libs)
    runs = [i for i in instructions() if i.keyword == "RUN" and "apt-get install" in i.args]
    (nerf,) = [i for i in runs if "/opt/venvs/nerfstudio" in i.args]
    assert "--no-install-recommends ${NERFSTUDIO_LIBS}" in nerf.args
    assert "import nerfstudio.scripts.train, nerfstudio.scripts.exporter" in nerf.args
    (runtime,) = [i for i in runs if i.stage == RUNTIME_TORCH]
    assert "${NERFSTUDIO_LIBS}" in runtime.args
    imported = [i.stage for i in instructions() if i.keyword == "ARG" and i.args == "NERFSTUDIO_LIBS"]
    assert imported == [0, RUNTIME_TORCH]  # the global default, imported by both stages
