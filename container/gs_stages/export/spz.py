"""Niantic's `.spz`, versions 3 and 4 (written), 2 to 4 (read): six quantised attribute blocks.

Version 3 is a gzip stream of a 16-byte header and the blocks; version 4 (`spz_ngsp`) a plain 32-byte
header and one zstd frame per block. Which one the spz stage writes by default, and why: docs/OPERATING.md
("Which SPZ version").

Why our own codec: the `spz` name on PyPI is an unrelated Rust re-implementation (0.0.1, a cp313-only
wheel, built with maturin), and Niantic publishes its nanobind bindings only as source. A ~150-line numpy
codec has no build step and is proved byte-identical to Niantic's C++ packer by the tests
(`tests/stages/test_export_spz.py`, against a prebuilt `ply_to_spz`, and against the WASM build of
Niantic's library inside `@playcanvas/splat-transform`).

Version 3 layout (little endian): magic 0x5053474e ("NGSP"), version 3, numPoints (u32), shDegree, fractionalBits,
flags (0x1 = antialiased), reserved (u8 each); then positions (N·9), alphas (N), colours (N·3),
scales (N·3), rotations (N·4, smallest three), SH (N·(K-1)·3). Quantisers: `spz_fields`.

Compression is deflate level Z_DEFAULT_COMPRESSION, memLevel 9, gzip wrapper written by zlib itself,
exactly Niantic's `deflateInit2` call: zlib writes mtime 0 and no name, so the whole file, gzip header
included, is reproducible and matches Niantic's bytes when both link the same zlib version.

Coordinates: the bytes are in the same axes as our `.ply` (Niantic's CoordinateSystem UNSPECIFIED: no
axis flips). That is what Niantic's own `ply_to_spz` tool writes (its `PackOptions.from` defaults to
UNSPECIFIED) and what splat-transform (SuperSplat, PlayCanvas) writes and reads, so tools that treat
both formats alike show the `.ply` and `.spz` in one orientation. SPZ's documented convention is RUB
(y up, z back); with `rotateSplat` on (the default) our axes are that too, because the viewer rotation
turns OpenCV's RDF (y down, z forward) into RUB, so readers that honour SPZ's RUB also show it upright.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gs_stages.export import spz_fields as f
from gs_stages.export import spz_ngsp
from gs_stages.gaussians import Gaussians

SPZ_MAGIC = 0x5053474E
#: The versions we write (export/settings.py); the spz stage's `spz_version` setting picks one.
from gs_stages.export.settings import DEFAULT_SPZ_VERSION, SPZ_VERSIONS  # noqa: E402

SPZ_VERSION = 3  # the gzip (legacy) layout's version, which pack_payload writes
#: Niantic's packer always uses 12 (~0.25 mm per unit of metres); fewer only when the scene needs it.
DEFAULT_FRACTIONAL_BITS = 12
FLAG_ANTIALIASED = 0x1
_HEADER = struct.Struct("<IIIBBBB")
_FIXED_MAX = (1 << 23) - 1


@dataclass(frozen=True)
class SpzHeader:
    version: int
    num_points: int
    sh_degree: int
    fractional_bits: int
    antialiased: bool


def fractional_bits_for(means: np.ndarray) -> int:
    """12 (Niantic's choice, so our bytes match its packer) unless a coordinate would overflow 24 bits.

    Niantic's packer silently wraps such coordinates to the wrong place; the header's fractionalBits
    field lets a reader decode any precision, so far-away Gaussians trade precision instead.
    """
    extent = float(np.abs(np.asarray(means, dtype=np.float32)).max(initial=0.0))
    for bits in range(DEFAULT_FRACTIONAL_BITS, -1, -1):
        if f.round_half_away(np.float32(extent) * np.float32(1 << bits)) <= _FIXED_MAX:
            return bits
    raise ValueError(f"a coordinate of {extent:.3g} is beyond SPZ's 24-bit fixed-point range (±8.4e6)")


def _check_finite(g: Gaussians) -> None:
    for name in ("means", "scales", "quats", "opacities", "sh"):
        finite = np.isfinite(np.asarray(getattr(g, name)))
        bad = ~finite.all(axis=tuple(range(1, finite.ndim)))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} Gaussian(s) have non-finite {name}; SPZ cannot encode them")
    if (np.linalg.norm(np.asarray(g.quats, dtype=np.float64), axis=1) == 0).any():
        raise ValueError("a Gaussian has a zero quaternion; SPZ cannot encode its orientation")


def _blocks(g: Gaussians, bits: int) -> list[bytes]:
    """The six attribute blocks in file order: positions, alphas, colours, scales, rotations, SH."""
    blocks = [
        f.pack_positions(g.means, bits),
        f.pack_alphas(g.opacities),
        f.pack_colors(g.sh[:, 0, :]),
        f.pack_scales(g.scales),
        f.pack_rotations(g.quats),
        f.pack_sh(g.sh[:, 1:, :]),
    ]
    return [block.tobytes() for block in blocks]


def _checked_bits(g: Gaussians, fractional_bits: int | None) -> int:
    """The fixed-point precision for `g`, once every value is known to be encodable."""
    _check_finite(g)
    return fractional_bits_for(g.means) if fractional_bits is None else fractional_bits


def pack_payload(g: Gaussians, *, antialiased: bool = False, fractional_bits: int | None = None) -> bytes:
    """The uncompressed SPZ v3 payload (header and attribute blocks) of `g`."""
    bits = _checked_bits(g, fractional_bits)
    flags = FLAG_ANTIALIASED if antialiased else 0
    header = _HEADER.pack(SPZ_MAGIC, SPZ_VERSION, len(g), g.degree, bits, flags, 0)
    return header + b"".join(_blocks(g, bits))


def gzip_niantic(payload: bytes) -> bytes:
    """gzip exactly as Niantic's `compressGzipped` (deflateInit2(level -1, window 16+15, memLevel 9))."""
    compressor = zlib.compressobj(-1, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY)
    return compressor.compress(payload) + compressor.flush()


def encode_spz(
    g: Gaussians,
    *,
    antialiased: bool = False,
    fractional_bits: int | None = None,
    version: int = DEFAULT_SPZ_VERSION,
) -> bytes:
    """The `.spz` file bytes of `g` in `version` 3 (gzip) or 4 (zstd streams)."""
    if version == SPZ_VERSION:
        return gzip_niantic(pack_payload(g, antialiased=antialiased, fractional_bits=fractional_bits))
    if version not in SPZ_VERSIONS:
        raise ValueError(f"cannot write SPZ version {version!r}: choose one of {', '.join(map(str, SPZ_VERSIONS))}")
    bits = _checked_bits(g, fractional_bits)
    flags = FLAG_ANTIALIASED if antialiased else 0
    return spz_ngsp.pack_container(version, len(g), g.degree, bits, flags, _blocks(g, bits))


def gunzip(data: bytes) -> bytes:
    """The payload of a gzip-wrapped (version 1-3) `.spz`; a clear error for anything else."""
    if data[:4] == b"NGSP":
        version = struct.unpack_from("<I", data, 4)[0] if len(data) >= 8 else "?"
        raise ValueError(
            f"an uncompressed SPZ payload (version {version}) is not a .spz file: files of versions 1 to 3 "
            "are gzip-compressed and version 4 has its own header; gzip the payload or re-export the splat"
        )
    if data[:2] != b"\x1f\x8b":
        raise ValueError("not an .spz file (neither a gzip stream nor an SPZ v4 'NGSP' header)")
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


def parse_header(payload: bytes) -> SpzHeader:
    if len(payload) < _HEADER.size:
        raise ValueError(f"SPZ payload of {len(payload)} bytes is shorter than its header")
    magic, version, count, degree, bits, flags, _ = _HEADER.unpack_from(payload)
    if magic != SPZ_MAGIC:
        raise ValueError(f"bad SPZ magic 0x{magic:08x}")
    if version not in (2, 3) or degree > 3:
        raise ValueError(
            f"unsupported SPZ version {version} / SH degree {degree} in a gzip stream (read: v2, v3; 0..3)"
        )
    return SpzHeader(version, count, degree, bits, bool(flags & FLAG_ANTIALIASED))


def spz_header(data: bytes) -> SpzHeader:
    """The header of `.spz` file bytes (any version we read)."""
    if spz_ngsp.is_ngsp_container(data):
        h = spz_ngsp.parse_container_header(data)
        return SpzHeader(h.version, h.num_points, h.sh_degree, h.fractional_bits, bool(h.flags & FLAG_ANTIALIASED))
    return parse_header(gunzip(data))


def _block_sizes(h: SpzHeader) -> list[int]:
    n, k = h.num_points, (h.sh_degree + 1) ** 2
    return [n * 9, n, n * 3, n * 3, n * (4 if h.version >= 3 else 3), n * (k - 1) * 3]


def _gaussians(h: SpzHeader, blocks: list[np.ndarray]) -> Gaussians:
    """Gaussians from the six attribute blocks, dequantised as Niantic's loader does."""
    n, k = h.num_points, (h.sh_degree + 1) ** 2
    pos, alpha, color, scale, rot, sh_raw = blocks
    sh = np.empty((n, k, 3), dtype=np.float32)
    sh[:, 0, :] = f.unpack_colors(color)
    sh[:, 1:, :] = f.unpack_sh(sh_raw, n, k - 1)
    quats = f.unpack_rotations(rot.copy()) if h.version >= 3 else f.unpack_rotations_v2(rot)
    return Gaussians(
        means=f.unpack_positions(pos, h.fractional_bits),
        scales=f.unpack_scales(scale),
        quats=quats,
        opacities=f.unpack_alphas(alpha),
        sh=sh,
    )


def unpack_payload(payload: bytes) -> Gaussians:
    """Gaussians from an uncompressed SPZ v2/v3 payload."""
    h = parse_header(payload)
    sizes = _block_sizes(h)
    if len(payload) < _HEADER.size + sum(sizes):
        raise ValueError(f"SPZ payload truncated: {len(payload)} bytes for {h.num_points} degree-{h.sh_degree} points")
    buffer = np.frombuffer(payload, dtype=np.uint8)
    offsets = np.cumsum([_HEADER.size, *sizes])
    return _gaussians(h, [buffer[a:b] for a, b in itertools.pairwise(offsets)])


def _decode_v4(data: bytes) -> Gaussians:
    h = spz_header(data)
    if h.sh_degree > 3:
        raise ValueError(f"SH degree {h.sh_degree} is not supported (0..3)")
    _, blocks = spz_ngsp.unpack_container(data, _block_sizes(h))
    return _gaussians(h, [np.frombuffer(b, dtype=np.uint8) for b in blocks])


def decode_spz(data: bytes) -> Gaussians:
    """Gaussians from `.spz` file bytes (versions 2, 3 and 4)."""
    if spz_ngsp.is_ngsp_container(data):
        return _decode_v4(data)
    return unpack_payload(gunzip(data))


def write_spz(path: str | Path, g: Gaussians, *, antialiased: bool = False, version: int = DEFAULT_SPZ_VERSION) -> Path:
    """Write `g` as an SPZ file of `version` and return the path."""
    path = Path(path)
    path.write_bytes(encode_spz(g, antialiased=antialiased, version=version))
    return path


def read_spz(path: str | Path) -> Gaussians:
    return decode_spz(Path(path).read_bytes())
