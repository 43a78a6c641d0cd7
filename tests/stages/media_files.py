"""Small bad media files made in the test: a video cut short, an audio-only MP4, blank footage, photo zips."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def box(kind: bytes, *children: bytes) -> bytes:
    payload = b"".join(children)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, body: bytes) -> bytes:
    return box(kind, b"\x00\x00\x00\x00" + body)  # version 0, no flags


#: An AAC sample entry: reserved, data reference 1, reserved, 2 channels, 16 bits, 44.1 kHz (16.16).
MP4A_ENTRY = b"\x00" * 6 + struct.pack(">H", 1) + b"\x00" * 8 + struct.pack(">HHHHI", 2, 16, 0, 0, 44100 << 16)


def audio_only_mp4(path: Path) -> Path:
    """An MP4 whose one track is sound (what a phone's voice memo or an exported soundtrack looks like)."""
    hdlr = full_box(b"hdlr", b"\x00" * 4 + b"soun" + b"\x00" * 12 + b"SoundHandler\x00")
    stbl = box(
        b"stbl",
        full_box(b"stsd", struct.pack(">I", 1) + box(b"mp4a", MP4A_ENTRY)),
        full_box(b"stts", struct.pack(">I", 0)),
        full_box(b"stsc", struct.pack(">I", 0)),
        full_box(b"stsz", struct.pack(">II", 0, 0)),
        full_box(b"stco", struct.pack(">I", 0)),
    )
    minf = box(b"minf", full_box(b"smhd", b"\x00" * 4), stbl)
    mdia = box(b"mdia", full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, 44100, 0, 0x55C4, 0)), hdlr, minf)
    trak = box(b"trak", full_box(b"tkhd", struct.pack(">IIII", 0, 0, 1, 0) + b"\x00" * 64), mdia)
    moov = box(b"moov", full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 0) + b"\x00" * 80), trak)
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")
    path.write_bytes(ftyp + moov + box(b"mdat", b"\x00" * 64))
    return path


def texture(seed: int = 1) -> np.ndarray:
    """A 320x240 random block texture (BGR): plenty of corners for features."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    return cv2.cvtColor(cv2.resize(blocks, (320, 240), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def panning_video(path: Path, count: int = 20) -> Path:
    scene = texture()
    return write_video(path, [scene[i * 2 : i * 2 + 120, i * 3 : i * 3 + 160].copy() for i in range(count)])


def rotate_quarter_turn(path: Path) -> Path:
    """Mark a video as shot in portrait, as phones do: the pixels stay landscape, the track header's
    display matrix turns them 90° clockwise (tkhd version 0: the matrix is 40 bytes into its payload)."""
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0, "expected one version-0 track header"
    matrix = tkhd + 4 + 4 + 20 + 8 + 8
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


def blank_video(path: Path, count: int = 20, level: int = 0) -> Path:
    """Footage of one flat colour (0: the lens cap on)."""
    return write_video(path, [np.full((120, 160, 3), level, np.uint8) for _ in range(count)])


def jpeg(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[..., ::-1])).save(out, "JPEG", quality=90)
    return out.getvalue()


def photo_zip(path: Path, photos: dict[str, np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, image in photos.items():
            archive.writestr(name, jpeg(image))
    return path
