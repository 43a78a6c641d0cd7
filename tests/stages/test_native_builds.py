"""Where the compiled CPU kernels are built (native.py): one folder per source text, so a clone of the same code
pointed at the same build root (GS_NATIVE_BUILD_DIR) compiles from the very path the first build used, and ninja
finds nothing to do, while a changed source builds in a folder of its own and leaves the other build alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gs_stages.splat import native


@pytest.fixture()
def clone_csrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another checkout's csrc/ (the same kernel sources, freshly written) building into `tmp_path / "build"`."""
    csrc = tmp_path / "clone" / "csrc"
    csrc.mkdir(parents=True)
    for source in native.CSRC.glob("*.cpp"):
        shutil.copyfile(source, csrc / source.name)
    monkeypatch.setattr(native, "CSRC", csrc)
    monkeypatch.setattr(native, "BUILD_DIR", tmp_path / "build")
    return csrc


def test_the_same_source_builds_from_the_same_path_and_a_changed_one_beside_it(clone_csrc: Path) -> None:
    first = native.build_source("raster_cpu")
    assert (
        first.parent.parent == native.BUILD_DIR and first.read_bytes() == (clone_csrc / "raster_cpu.cpp").read_bytes()
    )
    written = first.stat().st_mtime_ns
    time.sleep(0.01)
    (clone_csrc / "raster_cpu.cpp").write_bytes((clone_csrc / "raster_cpu.cpp").read_bytes())  # a fresh clone's file
    assert native.build_source("raster_cpu") == first and first.stat().st_mtime_ns == written  # nothing to rebuild

    original = first.read_bytes()
    (clone_csrc / "raster_cpu.cpp").write_bytes(original + b"\n// an edit\n")
    changed = native.build_source("raster_cpu")
    assert changed.parent != first.parent and changed.read_bytes().endswith(b"// an edit\n")
    assert first.read_bytes() == original  # the first build's source is untouched
    assert native.build_source("ssim_cpu").parent not in (first.parent, changed.parent)


def test_the_build_root_comes_from_gs_native_build_dir(tmp_path: Path) -> None:
    env = {**os.environ, "GS_NATIVE_BUILD_DIR": str(tmp_path / "shared")}
    code = "from gs_stages.splat import native; print(native.BUILD_DIR)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(tmp_path / "shared")


def test_loading_one_kernel_leaves_the_others_build_folder_where_it_was() -> None:
    """torch's cpp_extension.load appends to the flag lists it is given: the flags hashed into the next kernel's
    folder name must not change with it, or a process that loads the kernels in another order compiles again."""
    before = native.build_source("ssim_cpu")
    native.load.__wrapped__("raster_cpu")  # a real load, past the cache (ninja finds nothing to do once built)
    assert native.build_source("ssim_cpu") == before


def test_a_lock_left_by_a_killed_load_does_not_stop_the_next_one() -> None:
    """torch's build lock is a file it deletes when done: a stage killed (SIGKILL) while loading left it, and
    every later load of that folder waited for ever (the suite hung after test_ui_process's stopped run)."""
    folder = native.build_source("raster_cpu").parent
    native.load.__wrapped__("raster_cpu")  # built (if it was not) before the lock is planted: the load below is quick
    (folder / "lock").touch()  # what a process killed in torch's build step leaves
    code = "from gs_stages.splat import native; native.load('raster_cpu'); print('loaded')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "loaded" and not (folder / "lock").exists()
