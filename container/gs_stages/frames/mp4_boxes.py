"""Why the decoder could not open an MP4/QuickTime file, read from its box structure.

OpenCV says only that it cannot open a file. The two common reasons with phone and editor output are
plain from the boxes: the file was cut short (a copy or an upload that stopped, a recording that was
not finished, so the index, the `moov` box, is missing), or the file holds no video track (an audio
memo saved as .mp4). Used only to word the error after the decoder failed, never to refuse a file.
Written by hand: walking the top-level boxes is a few struct reads, and the decoders at hand (OpenCV,
its FFmpeg) report neither reason; a media-parsing dependency for an error message is not worth it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gs_stages.media import QUICKTIME_ATOMS

#: Boxes an MP4 (`ftyp`) or QuickTime file (the others) starts with.
FIRST_BOXES = (b"ftyp", *QUICKTIME_ATOMS)
#: What to do about each fault `diagnose` finds.
UPLOAD_AGAIN = "upload the complete file again (copy it once more from the camera, or export it again)"
NO_PICTURE = "upload the video itself (the picture, not only its soundtrack), as .mp4 or .mov"


@dataclass(frozen=True)
class VideoFault:
    reason: str  # in plain words, after "cannot open the video x.mp4: "
    hint: str


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    payload: int  # where the contents start, after the header
    end: int  # as the header declares it; past the end of the file when the file was cut short


def boxes(handle: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The boxes between `start` and `end`, from their headers (32-bit, 64-bit and to-the-end sizes)."""
    position = start
    while position + 8 <= end:
        handle.seek(position)
        header = handle.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        payload = position + 8
        if size == 1 and len(header) == 16:
            size, payload = struct.unpack(">Q", header[8:16])[0], position + 16
        elif size == 0:
            size = end - position
        if size < payload - position:
            return  # a damaged header: nothing after it can be trusted
        yield Box(kind, position, payload, position + size)
        position += size


def _children(handle: BinaryIO, parent: Box, kind: bytes) -> Iterator[Box]:
    return (box for box in boxes(handle, parent.payload, parent.end) if box.kind == kind)


def track_handlers(handle: BinaryIO, moov: Box) -> list[bytes]:
    """The handler type of each track (`vide`, `soun`, ...): moov/trak/mdia/hdlr, 8 bytes into its payload."""
    handlers = []
    for trak in _children(handle, moov, b"trak"):
        for mdia in _children(handle, trak, b"mdia"):
            for hdlr in _children(handle, mdia, b"hdlr"):
                handle.seek(hdlr.payload + 8)
                handlers.append(handle.read(4))
    return handlers


def _cut_short(top: list[Box], size: int) -> str | None:
    cut = next((box for box in top if box.end > size), None)
    if cut is None:
        return None
    kind = cut.kind.decode("latin-1")
    return (
        f"the file is cut short: it ends at {size:,} bytes, inside its {kind!r} box, which declares "
        f"{cut.end - cut.start:,} bytes"
    )


def diagnose(path: Path) -> VideoFault | None:
    """Why the file cannot be decoded, or None when the boxes show nothing wrong."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        top = list(boxes(handle, 0, size))
        if not top or top[0].kind not in FIRST_BOXES or not all(box.kind.isalnum() for box in top):
            return None  # not MP4/QuickTime, or garbage between the boxes: nothing to say beyond "corrupt"
        moov = next((box for box in top if box.kind == b"moov"), None)
        cut = _cut_short(top, size)
        if moov is None or moov.end > size:
            missing = "its index (the 'moov' box) is missing"
            reason = f"{cut}, and {missing}" if cut else f"{missing}: the recording or the export did not finish"
            return VideoFault(reason, UPLOAD_AGAIN)
        handlers = track_handlers(handle, moov)
    if b"vide" in handlers:
        return VideoFault(cut, UPLOAD_AGAIN) if cut else None
    if b"soun" in handlers:
        return VideoFault("it holds only audio: there is no video track", NO_PICTURE)
    return VideoFault("it has no video track", NO_PICTURE) if handlers else None
