"""The card's top-level folders live under the project's namespace (issue #20): `assets/` and `resources/` are
`gs_dagster.assets` and `gs_dagster.resources`; nothing named assets, resources or tests is installed, and
the bare names refuse to import even from the repository root, where a folder is importable by its name
(one module under two names would define every Dagster resource class twice)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gs_dagster.config import project_dir

BARE = ("assets", "resources")
_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")  # the viewer's npm folder: not Python


def _python(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code.split("\0")], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "gs_dagster", "assets", "resources"):  # built from a copy: no build/ here
        copy = shutil.copytree if (project_dir() / name).is_dir() else shutil.copy
        copy(project_dir() / name, source / name, **({"ignore": _CACHES} if copy is shutil.copytree else {}))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(out), "."],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("gs_dagster-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"gs_dagster", wheel.name.split("-py3")[0] + ".dist-info"}
    for module in ("gs_dagster/assets/pipeline.py", "gs_dagster/assets/delivery.py", "gs_dagster/resources/storage.py"):
        assert module in names, module


def test_installed_the_code_location_loads_and_the_bare_names_do_not_exist(wheel: Path, tmp_path: Path) -> None:
    """The wheel unpacked as site-packages would hold it, in an interpreter without the checkout's editable
    install (-S: no .pth files): the definitions load from gs_dagster.assets, `import assets` finds nothing."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    paths = [str(site), str(project_dir() / "container"), sysconfig.get_paths()["purelib"]]
    prelude = f"import sys; sys.path[:0] = {paths!r}; "
    env = {**os.environ, "GS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": ""}
    loaded = _python(
        "-S\0-c\0" + prelude + "from gs_dagster.definitions import defs; import gs_dagster.assets.pipeline as p; "
        "print(p.__file__); print(sorted(k.to_user_string() for k in defs.resolve_all_asset_keys()))",
        tmp_path,
        env,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[0].startswith(str(site / "gs_dagster" / "assets"))
    assert "'delivery'" in loaded.stdout and "'spz'" in loaded.stdout
    for name in (*BARE, "tests"):
        bare = _python(f"-S\0-c\0{prelude}import {name}", tmp_path, env)
        assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr, (name, bare.stderr)


@pytest.mark.parametrize("name", BARE)
def test_from_the_repository_root_a_bare_name_says_what_to_import(name: str) -> None:
    bare = _python(f"-c\0import {name}", project_dir())
    assert bare.returncode != 0
    assert f"the {name}/ folder is the package gs_dagster.{name}: import gs_dagster.{name}" in bare.stderr
    namespaced = _python(f"-c\0import gs_dagster.{name}.{'pipeline' if name == 'assets' else 'storage'}", project_dir())
    assert namespaced.returncode == 0, namespaced.stderr
