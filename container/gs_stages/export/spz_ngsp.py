"""The container of SPZ version 4: a 32-byte plain header, a table of contents, one zstd frame per block.

Version 4 (Niantic's spz since 2025, splat-transform ≥ 3.10's default) keeps version 3's quantised
attribute blocks (`spz_fields`) but drops the single gzip stream: each block (positions, alphas,
colours, scales, rotations, SH) is its own zstd frame, so readers decompress them in parallel.

Layout (little endian): magic "NGSP", version (u32) 4, numPoints (u32), shDegree, fractionalBits,
flags, numStreams (u8 each), tocByteOffset (u32), 12 reserved zero bytes; optional extension records
up to tocByteOffset (flag 0x2; we write none and skip them when reading); then numStreams pairs of
(compressed size, uncompressed size) as u64; then the frames. An empty block (SH of degree 0) has no
stream. Frames are written as Niantic's `compressZstd` does (level 12, content size in the frame
header, no checksum), with the `zstandard` binding of libzstd.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import zstandard

NGSP_MAGIC = 0x5053474E
FIRST_NGSP_VERSION = 4
LATEST_NGSP_VERSION = 4
ZSTD_LEVEL = 12  # Niantic's compressZstd default
FLAG_EXTENSIONS = 0x2
HEADER = struct.Struct("<IIIBBBBI12x")
_TOC_ENTRY = struct.Struct("<QQ")


@dataclass(frozen=True)
class NgspHeader:
    version: int
    num_points: int
    sh_degree: int
    fractional_bits: int
    flags: int
    num_streams: int
    toc_offset: int


def is_ngsp_container(data: bytes) -> bool:
    """True for a version ≥ 4 file; False for anything else, including an uncompressed v1-3 payload,
    which also starts with "NGSP" but is no .spz file (those versions are gzip-compressed)."""
    if len(data) < 8 or data[:4] != b"NGSP":
        return False
    return struct.unpack_from("<I", data, 4)[0] >= FIRST_NGSP_VERSION


def pack_container(
    version: int, num_points: int, sh_degree: int, fractional_bits: int, flags: int, blocks: list[bytes]
) -> bytes:
    """The file bytes of the given attribute blocks (in Niantic's order; empty ones get no stream)."""
    streams = [b for b in blocks if b]
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=False)
    frames = [compressor.compress(b) for b in streams]
    header = HEADER.pack(NGSP_MAGIC, version, num_points, sh_degree, fractional_bits, flags, len(frames), HEADER.size)
    toc = b"".join(_TOC_ENTRY.pack(len(f), len(b)) for f, b in zip(frames, streams, strict=True))
    return header + toc + b"".join(frames)


def parse_container_header(data: bytes) -> NgspHeader:
    if len(data) < HEADER.size:
        raise ValueError(f"SPZ v4 file of {len(data)} bytes is shorter than its {HEADER.size}-byte header")
    magic, version, count, degree, bits, flags, streams, toc = HEADER.unpack_from(data)
    if magic != NGSP_MAGIC:
        raise ValueError(f"bad SPZ magic 0x{magic:08x}")
    if not FIRST_NGSP_VERSION <= version <= LATEST_NGSP_VERSION:
        raise ValueError(f"unsupported SPZ version {version} (this reader reads versions 2 to {LATEST_NGSP_VERSION})")
    if toc < HEADER.size or toc + streams * _TOC_ENTRY.size > len(data):
        raise ValueError(f"SPZ v4 table of contents at byte {toc} ({streams} streams) lies outside the file")
    return NgspHeader(version, count, degree, bits, flags, streams, toc)


def unpack_container(data: bytes, sizes: list[int]) -> tuple[NgspHeader, list[bytes]]:
    """The header and the decompressed blocks; `sizes` are the expected block sizes (0: no stream)."""
    h = parse_container_header(data)
    expected = [s for s in sizes if s]
    if h.num_streams != len(expected):
        raise ValueError(f"SPZ v4 file has {h.num_streams} streams where its header implies {len(expected)}")
    offset = h.toc_offset + h.num_streams * _TOC_ENTRY.size
    decompressor = zstandard.ZstdDecompressor()
    streams = []
    for i, size in enumerate(expected):
        packed, unpacked = _TOC_ENTRY.unpack_from(data, h.toc_offset + i * _TOC_ENTRY.size)
        if unpacked != size:
            raise ValueError(f"SPZ v4 stream {i} unpacks to {unpacked} bytes where the header implies {size}")
        if offset + packed > len(data):
            raise ValueError(f"SPZ v4 stream {i} is truncated: the file ends {offset + packed - len(data)} bytes early")
        try:
            block = decompressor.decompress(data[offset : offset + packed], max_output_size=size)
        except zstandard.ZstdError as exc:
            raise ValueError(f"SPZ v4 stream {i} does not decompress: {exc}") from exc
        if len(block) != size:
            raise ValueError(f"SPZ v4 stream {i} holds {len(block)} bytes, not {size}")
        streams.append(block)
        offset += packed
    it = iter(streams)
    return h, [next(it) if s else b"" for s in sizes]
