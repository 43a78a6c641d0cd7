"""A third-party reader and writer: PlayCanvas's @playcanvas/splat-transform (what SuperSplat uses).

It reads our .spz and .ply and converts them to a .ply of its own, which plyfile reads back. Its SPZ
writer is Niantic's C++ library compiled to WebAssembly, so asking it for a version 3 file is a second,
independent check that our payload bytes are the ones Niantic's packer produces.

The package is installed once from npm into the git-ignored `.work/node` (about 10 s) and reused;
the tests skip only when npm is missing or the registry cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from gs_stages.export.ply import read_ply, write_ply
from gs_stages.export.spz import decode_spz, encode_spz, pack_payload, write_spz

from .export_splats import adversarial_gaussians, random_gaussians

PACKAGE, VERSION = "@playcanvas/splat-transform", "3.10.2"
NODE_DIR = Path(__file__).resolve().parents[2] / ".work" / "node"


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / PACKAGE / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="module")
def splat_transform() -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node/npm are not installed")
    if _installed_version() != VERSION:
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            ["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", f"{PACKAGE}@{VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0:
            ping = subprocess.run(["npm", "ping"], capture_output=True, text=True, timeout=60)
            if ping.returncode != 0:
                pytest.skip(f"the npm registry is unreachable: {ping.stderr.strip()[-300:]}")
            pytest.fail(f"npm install {PACKAGE}@{VERSION} failed:\n{install.stderr[-2000:]}")
    return NODE_DIR / "node_modules" / ".bin" / "splat-transform"


def convert(tool: Path, source: Path, target: Path, *options: str) -> None:
    command = [str(tool), "-q", "-w", str(source), *options, str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", [3, 4])
def test_reads_our_spz(tmp_path, splat_transform, version):
    g = random_gaussians(3000, 3, seed=3)
    spz = write_spz(tmp_path / "ours.spz", g, version=version)
    convert(splat_transform, spz, tmp_path / "theirs.ply")

    assert PlyData.read(str(tmp_path / "theirs.ply"))["vertex"].count == len(g)
    theirs, ours = read_ply(tmp_path / "theirs.ply"), decode_spz(spz.read_bytes())
    np.testing.assert_array_less(np.abs(theirs.means - g.means), 0.5 / 4096 + 1e-6)  # 12 fractional bits
    for name in ("means", "scales", "opacities", "sh"):
        np.testing.assert_allclose(getattr(theirs, name), getattr(ours, name), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(theirs.quats, ours.quats, atol=1e-6)


def test_reads_our_ply(tmp_path, splat_transform):
    g = random_gaussians(3000, 2, seed=4)
    convert(splat_transform, write_ply(tmp_path / "ours.ply", g), tmp_path / "theirs.ply")
    theirs = read_ply(tmp_path / "theirs.ply")
    for name in ("means", "scales", "quats", "opacities", "sh"):
        np.testing.assert_array_equal(getattr(theirs, name), getattr(g, name), err_msg=name)


@pytest.mark.parametrize("degree", [0, 3])
def test_its_niantic_packer_writes_our_payload(tmp_path, splat_transform, degree):
    g = adversarial_gaussians(20000, degree, seed=20 + degree)
    ply = write_ply(tmp_path / "ours.ply", g)
    convert(splat_transform, ply, tmp_path / "theirs.spz", "--spz-version", "3")
    theirs = (tmp_path / "theirs.spz").read_bytes()
    assert theirs[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # gzip: no name, mtime 0, Unix
    assert zlib.decompress(theirs, 31) == pack_payload(g)


@pytest.mark.parametrize("degree", [0, 3])
def test_its_version_4_writer_writes_our_file(tmp_path, splat_transform, degree):
    """splat-transform's default SPZ (version 4, Niantic's WASM packer and zstd) is byte for byte ours."""
    g = adversarial_gaussians(20000, degree, seed=30 + degree)
    convert(splat_transform, write_ply(tmp_path / "ours.ply", g), tmp_path / "theirs.spz")
    theirs = (tmp_path / "theirs.spz").read_bytes()
    assert theirs[:8] == b"NGSP\x04\0\0\0"
    assert theirs == encode_spz(g, version=4)
