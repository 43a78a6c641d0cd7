"""container/Dockerfile's one torch, statically: torch 2.10 with its CUDA libraries (about 8 GB installed) is
installed once, in /opt/torch, and every venv of the image (the stages, nerfstudio, 3DGRUT) sees it
through container/venv-shared-torch.sh rather than a copy of its own. The built image is checked by
tests/aws/test_image_contents.py (slow)."""

from __future__ import annotations

import re
import shlex
import subprocess

from .test_dockerfile import CONTAINER, instructions, pins

SHARED = "requirements-torch-gpu.txt"
VENV_FILES = {
    "/opt/venvs/gs": "requirements-gpu.txt",
    "/opt/venvs/nerfstudio": "requirements-nerfstudio-gpu.txt",
    "/opt/venvs/3dgrut": "requirements-3dgrut-gpu.txt",
}
SCRIPT = CONTAINER / "venv-shared-torch.sh"


def _build_runs() -> list[tuple[int, str]]:
    return [(i.line, i.args) for i in instructions() if i.keyword == "RUN" and i.stage == 0]


def test_every_venv_pins_the_shared_packages_at_the_shared_version():
    shared = pins(SHARED)
    assert {"torch", "torchvision", "triton", "nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= set(shared)
    for venv, name in VENV_FILES.items():
        own = pins(name)
        drifted = {p: (v, own.get(p)) for p, v in shared.items() if own.get(p) != v}
        assert not drifted, f"{name} ({venv}) pins the shared packages otherwise: {drifted}"


def test_the_shared_torch_is_installed_once_before_the_venvs_that_use_it():
    runs = _build_runs()
    (torch_run,) = [(line, r) for line, r in runs if "/opt/torch/bin/pip install" in r]
    assert "python3.12 -m venv /opt/torch" in torch_run[1]
    assert f"--no-deps -r /build/{SHARED}" in torch_run[1]  # the rest of torch's closure is each venv's own
    for venv in VENV_FILES:
        (line, run) = next((line, r) for line, r in runs if f"venv-shared-torch.sh new {venv}" in r)
        assert line > torch_run[0], venv
        assert f"python3.12 -m venv {venv}" not in run  # a venv of its own torch
        steps = [step.strip() for step in run.split("&&")]
        install = next(i for i, s in enumerate(steps) if f"{venv}/bin/pip install -r" in s)
        assert steps[install + 1] == f"/build/venv-shared-torch.sh check {venv}", venv  # no second copy, or fail
    venvs = {m for _, r in runs for m in re.findall(r"-m venv (/opt/[\w/-]+)", r)}
    assert venvs == {"/opt/torch"}  # no venv made around the script
    copy = next(shlex.split(i.args) for i in instructions() if i.keyword == "COPY" and SCRIPT.name in i.args)
    assert copy == [f"container/{SHARED}", f"container/{SCRIPT.name}", "/build/"]


def test_the_script_joins_the_shared_site_packages_after_the_venvs_own():
    assert subprocess.run(["sh", "-n", str(SCRIPT)]).returncode == 0
    assert SCRIPT.stat().st_mode & 0o111  # COPY keeps the mode: the build runs it directly
    text = SCRIPT.read_text()
    assert "SHARED=/opt/torch" in text and f"SHARED_PINS=/build/{SHARED}" in text
    # a .pth line appends its directory to sys.path, after the venv's own site-packages: the venv's pins win
    assert re.search(r'site "\$\{SHARED\}" >"\$\(site "\$2"\)/[\w-]+\.pth"', text)
    usage = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
