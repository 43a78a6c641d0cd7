"""The delivered .ply: the standard 3DGS layout, read back bit-exactly, f_rest channel-major."""

from __future__ import annotations

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from gs_stages.export.ply import read_ply, write_ply

from .export_splats import random_gaussians


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_bit_exact(tmp_path, degree):
    g = random_gaussians(500, degree, seed=degree)
    back = read_ply(write_ply(tmp_path / "s.ply", g))
    for name in ("means", "scales", "quats", "opacities", "sh"):
        got, want = getattr(back, name), getattr(g, name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_plyfile_reads_the_3dgs_layout_in_order(tmp_path):
    g = random_gaussians(37, degree=3)
    path = write_ply(tmp_path / "s.ply", g)
    header = path.read_bytes().split(b"end_header\n")[0].decode()
    assert header.splitlines()[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 37"]
    assert "comment" not in header

    ply = PlyData.read(str(path))
    assert [e.name for e in ply.elements] == ["vertex"]
    vertex = ply["vertex"]
    expected = (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(45)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )
    assert [p.name for p in vertex.properties] == expected
    assert {p.val_dtype for p in vertex.properties} == {"f4"}
    assert vertex.count == 37 and not ply.text and ply.byte_order == "<"
    np.testing.assert_array_equal(vertex["nx"], 0)
    np.testing.assert_array_equal(vertex["rot_0"], g.quats[:, 0])  # rot_0 is w
    np.testing.assert_array_equal(vertex["opacity"], g.opacities)  # logits, as trained
    np.testing.assert_array_equal(vertex["scale_2"], g.scales[:, 2])  # log scales


def test_f_rest_is_channel_major(tmp_path):
    """3DGS writes features_rest (N, K-1, 3) transposed to (N, 3, K-1): all red bands, then green, blue."""
    g = random_gaussians(4, degree=2)
    k = g.sh.shape[1]
    coefficient, channel = np.meshgrid(np.arange(k), np.arange(3), indexing="ij")
    g.sh[:] = (100 * channel + coefficient).astype(np.float32)  # value encodes (channel, coefficient)
    vertex = PlyData.read(str(write_ply(tmp_path / "s.ply", g)))["vertex"]
    for c in range(3):
        assert vertex[f"f_dc_{c}"][0] == 100 * c
        for j in range(k - 1):
            assert vertex[f"f_rest_{c * (k - 1) + j}"][0] == 100 * c + j + 1


def test_reads_any_property_order_and_ignores_extras(tmp_path):
    g = random_gaussians(10, degree=1)
    vertex = PlyData.read(str(write_ply(tmp_path / "s.ply", g)))["vertex"].data
    names = list(reversed(vertex.dtype.names))
    shuffled = np.empty(len(vertex), dtype=[(n, "<f4") for n in names] + [("extra", "<f4")])
    for n in names:
        shuffled[n] = vertex[n]
    PlyData([PlyElement.describe(shuffled, "vertex")]).write(str(tmp_path / "other.ply"))
    back = read_ply(tmp_path / "other.ply")
    np.testing.assert_array_equal(back.sh, g.sh)
    np.testing.assert_array_equal(back.quats, g.quats)


def test_refuses_a_point_cloud(tmp_path):
    cloud = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    PlyData([PlyElement.describe(cloud, "vertex")]).write(str(tmp_path / "cloud.ply"))
    with pytest.raises(ValueError, match=r"missing properties .*opacity"):
        read_ply(tmp_path / "cloud.ply")
