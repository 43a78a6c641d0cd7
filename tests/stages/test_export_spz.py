"""The delivered .spz: Niantic's version 3 layout, round trips within its quantisation, and bytes identical
to Niantic's own packer.

The byte-identity test needs Niantic's C++ `ply_to_spz` (and `spz_to_ply`), built outside the repo: set
GS_SPZ_REFERENCE_BIN to the folder holding them (default `.peer/spz/bin`, git-ignored). Without it the
test is skipped; test_export_splat_transform.py makes the same comparison against Niantic's library
as compiled into @playcanvas/splat-transform.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from gs_stages.export.ply import read_ply, write_ply
from gs_stages.export.spz import (
    decode_spz,
    encode_spz,
    fractional_bits_for,
    pack_payload,
    read_spz,
    spz_header,
    write_spz,
)
from gs_stages.export.spz_fields import pack_rotations
from gs_stages.gaussians import Gaussians

from .export_splats import adversarial_gaussians, random_gaussians

REPO = Path(__file__).resolve().parents[2]
REFERENCE_BIN = Path(os.environ.get("GS_SPZ_REFERENCE_BIN", REPO / ".peer" / "spz" / "bin"))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def assert_within_quantisation(decoded: Gaussians, original: Gaussians, fractional_bits: int = 12) -> None:
    """Each attribute within half a quantisation step of SPZ's encoding (plus float32 rounding)."""
    np.testing.assert_array_less(np.abs(decoded.means - original.means), 0.5 / 2**fractional_bits + 1e-6)
    in_range = (original.scales > -10) & (original.scales < 5.9)
    assert np.abs(decoded.scales - original.scales)[in_range].max() <= 0.5 / 16 + 1e-6
    alpha_error = np.abs(sigmoid(decoded.opacities) - sigmoid(original.opacities))
    assert alpha_error.max() <= 0.5 / 255 + 1e-6
    dc, dc0 = decoded.sh[:, 0], original.sh[:, 0]
    in_range = np.abs(dc0) < 3.0  # the 8-bit colour spans f_dc in about ±3.3
    assert np.abs(dc - dc0)[in_range].max() <= 0.5 / (0.15 * 255) + 1e-6
    rest, rest0 = decoded.sh[:, 1:], original.sh[:, 1:]
    in_range = np.abs(rest0) < 0.9
    band1 = np.abs(rest - rest0)[:, :3][in_range[:, :3]]
    higher = np.abs(rest - rest0)[:, 3:][in_range[:, 3:]]
    assert band1.size == 0 or band1.max() <= 4.5 / 128 + 1e-6  # rounding, then buckets of 8 of 256
    assert higher.size == 0 or higher.max() <= 8.5 / 128 + 1e-6  # buckets of 16
    unit = original.quats / np.linalg.norm(original.quats, axis=1, keepdims=True)
    assert np.abs(np.sum(decoded.quats * unit, axis=1)).min() > 1 - 1e-5  # same rotation (q ~ -q)


def test_header_and_gzip_wrapper():
    g = random_gaussians(123, degree=2)
    data = encode_spz(g, antialiased=True)
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == b"\0\0\0\0"  # gzip, no name, mtime 0
    payload = zlib.decompress(data, 31)
    assert payload[:4] == b"NGSP"
    assert struct.unpack_from("<IIIBBBB", payload) == (0x5053474E, 3, 123, 2, 12, 1, 0)
    assert len(payload) == 16 + 123 * (9 + 1 + 3 + 3 + 4 + 8 * 3)
    header = spz_header(data)
    assert (header.version, header.num_points, header.sh_degree, header.antialiased) == (3, 123, 2, True)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_within_quantisation(tmp_path, degree):
    g = random_gaussians(3000, degree, seed=10 + degree)
    back = read_spz(write_spz(tmp_path / "s.spz", g))
    assert len(back) == len(g) and back.degree == degree
    assert_within_quantisation(back, g)


def test_empty_splat_round_trips():
    back = decode_spz(encode_spz(random_gaussians(0, degree=2)))
    assert len(back) == 0 and back.degree == 2


def test_smallest_three_bit_layout():
    """q = (w, x, y, z) = (0.5, -0.5, 0.5, 0.5): x (index 0 in x, y, z, w) is the first largest and
    negative, so the stored y, z, w get their signs flipped; each magnitude is 0.5 / √½ on 9 bits."""
    mag = int(511 * (0.5 / np.float32(0.70710678)) + 0.5)  # 361
    field = (1 << 9) | mag  # sign bit set: stored negated
    expected = (((0 << 10 | field) << 10 | field) << 10) | field
    packed = pack_rotations(np.array([[0.5, -0.5, 0.5, 0.5]], dtype=np.float32))
    assert int.from_bytes(packed.tobytes(), "little") == expected


def test_far_gaussians_lower_the_fixed_point_precision_instead_of_wrapping():
    g = random_gaussians(200, degree=0)
    g.means[0] = [5000.0, -3000.0, 1.0]  # 5000 * 2^12 overflows 24 bits; 5000 * 2^10 does not
    assert fractional_bits_for(g.means) == 10
    data = encode_spz(g)
    assert spz_header(data).fractional_bits == 10
    assert_within_quantisation(decode_spz(data), g, fractional_bits=10)


def test_refuses_what_it_cannot_encode():
    g = random_gaussians(5, degree=0)
    g.opacities[2] = np.nan
    with pytest.raises(ValueError, match="non-finite opacities"):
        encode_spz(g)
    g = random_gaussians(5, degree=0)
    g.quats[1] = 0
    with pytest.raises(ValueError, match="zero quaternion"):
        encode_spz(g)


def test_an_uncompressed_payload_is_not_reported_as_version_4():
    """A bare v3 payload starts with 'NGSP' like a v4 file; the error names its real version."""
    payload = pack_payload(random_gaussians(50, degree=1))
    for reader in (decode_spz, spz_header):
        with pytest.raises(ValueError, match=r"uncompressed SPZ payload \(version 3\) is not a \.spz file"):
            reader(payload)


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_version_4_layout_and_round_trip(tmp_path, degree):
    g = random_gaussians(2000, degree, seed=40 + degree)
    data = write_spz(tmp_path / "s.spz", g, version=4, antialiased=True).read_bytes()
    magic, version, count, deg, bits, flags, streams, toc = struct.unpack_from("<IIIBBBBI", data)
    assert (magic, version, count, deg, bits, flags, toc) == (0x5053474E, 4, 2000, degree, 12, 1, 32)
    assert streams == (5 if degree == 0 else 6) and data[20:32] == bytes(12)  # no SH stream at degree 0
    sizes = [struct.unpack_from("<QQ", data, 32 + 16 * i) for i in range(streams)]
    assert [u for _, u in sizes][:5] == [2000 * 9, 2000, 2000 * 3, 2000 * 3, 2000 * 4]
    assert 32 + 16 * streams + sum(c for c, _ in sizes) == len(data)
    header = spz_header(data)
    assert (header.version, header.num_points, header.sh_degree, header.antialiased) == (4, 2000, degree, True)
    back = read_spz(tmp_path / "s.spz")
    assert_within_quantisation(back, g)
    v3 = decode_spz(encode_spz(g, version=3))  # same quantisation, other container
    for name in ("means", "scales", "quats", "opacities", "sh"):
        np.testing.assert_array_equal(getattr(back, name), getattr(v3, name), err_msg=name)


def test_version_4_damage_is_reported_not_misread():
    data = bytearray(encode_spz(random_gaussians(300, degree=2), version=4))
    with pytest.raises(ValueError, match="stream 5 is truncated: the file ends 2000 bytes early"):
        decode_spz(bytes(data[:-2000]))
    struct.pack_into("<I", data, 4, 5)
    with pytest.raises(ValueError, match="unsupported SPZ version 5"):
        decode_spz(bytes(data))
    with pytest.raises(ValueError, match="cannot write SPZ version 2"):
        encode_spz(random_gaussians(3, degree=0), version=2)


@pytest.mark.skipif(
    not (REFERENCE_BIN / "ply_to_spz").is_file(),
    reason=f"Niantic's reference packer is not built at {REFERENCE_BIN} (set GS_SPZ_REFERENCE_BIN)",
)
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_byte_identical_to_niantic_packer(tmp_path, degree):
    """Niantic's ply_to_spz reads our .ply (a third-party reader) and packs it; our packer must give the
    same decompressed payload and, with the same zlib, the same file. Its spz_to_ply must read ours."""
    g = adversarial_gaussians(20000, degree, seed=degree)
    write_ply(tmp_path / "in.ply", g)
    subprocess.run([REFERENCE_BIN / "ply_to_spz", tmp_path / "in.ply", tmp_path / "ref.spz"], check=True)
    reference = (tmp_path / "ref.spz").read_bytes()
    ours = encode_spz(g)
    assert zlib.decompress(reference, 31) == pack_payload(g)
    assert reference == ours

    write_spz(tmp_path / "ours.spz", g)
    unpacker = REFERENCE_BIN / "spz_to_ply"
    subprocess.run([unpacker, tmp_path / "ours.spz", tmp_path / "back.ply"], check=True, capture_output=True)
    theirs, mine = read_ply(tmp_path / "back.ply"), decode_spz(ours)
    for name in ("means", "scales", "sh"):
        np.testing.assert_allclose(getattr(theirs, name), getattr(mine, name), atol=1e-6, err_msg=name)
    finite = np.isfinite(theirs.opacities)  # Niantic decodes alpha 0 / 255 as ∓inf; we clamp
    np.testing.assert_allclose(theirs.opacities[finite], mine.opacities[finite], atol=1e-4)
    np.testing.assert_allclose(theirs.quats, mine.quats, atol=1e-6)
