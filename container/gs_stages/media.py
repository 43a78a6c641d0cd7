"""What an uploaded media file really holds, from its size and first bytes.

The job names its media by extension (`.mp4`, `.mov`, `.zip`), and a wrong file is a common mistake: a
zip of photos named `.mp4`, a phone's audio memo, one photo, an empty upload, a web page saved instead
of the download. Each is refused by name wherever the media is first seen (`gs-dagster submit`, the
intake sensor, the frames stage), before any stage works on it. At intake the job is refused, so a
corrected upload under the same uuid is accepted.

Only a positive identification refuses: content this module does not recognise is left to the frames
stage, which fails with its own message if it cannot read it. A zip is also judged by its member list
(read from its end): no photos, or fewer than SfM needs. Standard library only, besides gs_stages.stage
and the zip's member rules (the Dagster side imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gs_stages.frames.zip_contents import TAIL_BYTES, listing_problem
from gs_stages.jobspec import VIDEO_EXTENSIONS
from gs_stages.stage import StageError

#: Bytes read from the start of the file (the tar signature sits at offset 257).
HEAD_BYTES = 512


@dataclass(frozen=True)
class Content:
    """What a file holds: `kind` groups what is read alike ("zip", "video", "image", "audio", "archive",
    "other"), `what` is said to the user."""

    kind: str
    what: str


_ZIP = Content("zip", "a zip archive")
_VIDEO = Content("video", "an MP4/QuickTime video")
#: ISO base media (ftyp) brands that are not videos: still images and audio-only files.
_FTYP_BRANDS: dict[bytes, Content] = {
    b"heic": Content("image", "a HEIC photo"),
    b"heix": Content("image", "a HEIC photo"),
    b"mif1": Content("image", "a HEIF photo"),
    b"msf1": Content("image", "a HEIF photo sequence"),
    b"avif": Content("image", "an AVIF photo"),
    b"M4A ": Content("audio", "an M4A audio file (no picture)"),
    b"M4B ": Content("audio", "an M4B audio book (no picture)"),
}
#: Top-level QuickTime atoms a .mov may start with instead of `ftyp`.
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
#: (offset, signature, content), checked in order.
_SIGNATURES: tuple[tuple[int, bytes, Content], ...] = (
    (0, b"PK\x03\x04", _ZIP),
    (0, b"PK\x05\x06", _ZIP),  # an empty zip: only the end record
    (0, b"\xff\xd8\xff", Content("image", "a single JPEG photo")),
    (0, b"\x89PNG\r\n\x1a\n", Content("image", "a single PNG image")),
    (0, b"GIF8", Content("image", "a GIF image")),
    (0, b"Rar!\x1a\x07", Content("archive", "a RAR archive")),
    (0, b"7z\xbc\xaf\x27\x1c", Content("archive", "a 7-Zip archive")),
    (0, b"\x1f\x8b", Content("archive", "a gzip (.gz/.tgz) archive")),
    (257, b"ustar", Content("archive", "a tar archive")),
    (0, b"%PDF", Content("other", "a PDF document")),
    (0, b"\x1a\x45\xdf\xa3", Content("video", "a Matroska/WebM video")),
    (0, b"ID3", Content("audio", "an MP3 audio file (no picture)")),
)
_RIFF: dict[bytes, Content] = {
    b"AVI ": Content("video", "an AVI video"),
    b"WAVE": Content("audio", "a WAV audio file (no picture)"),
}
_WEB_PAGE = Content("other", "a web page (HTML), not a media file")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml", b"<error")


def identify(head: bytes) -> Content | None:
    """What the first bytes say the file holds, or None when they match nothing known here."""
    for offset, signature, content in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return content
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12])
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], _VIDEO)
    if head[4:8] in QUICKTIME_ATOMS:
        return _VIDEO
    if head.lstrip()[:14].lower().startswith(_HTML_STARTS):
        return _WEB_PAGE
    return None


def _expected(name: str) -> Content:
    return _VIDEO if name.lower().endswith(VIDEO_EXTENSIONS) else _ZIP


def _hint_for(found: Content, name: str) -> str:
    """What to upload instead of a file named `name` that holds `found`."""
    if found.kind in ("zip", "video"):
        ending = ".zip" if found.kind == "zip" else ".mp4 or .mov"
        return f"rename it to end in {ending} (and the job's s3.inputKey with it, now {name!r}), then upload it again"
    return {
        "image": "put the photos (20 or more, each overlapping its neighbours) in a .zip and upload that",
        "archive": "unpack it and zip the photos as a .zip",
        "audio": "upload the video itself (.mp4 or .mov), or a .zip of photos",
    }.get(found.kind, "download or export the media again and upload the file itself")


def media_problem(name: str, size: int, head: bytes, tail: bytes = b"") -> StageError | None:
    """The problem with a media file named `name` (size in bytes, first HEAD_BYTES bytes, last TAIL_BYTES
    bytes where given: a zip's member list), or None.

    Any video container passes under a video name: the decoder reads the content, not the name. A zip whose
    member list holds no photos, or too few for SfM, is refused by what it holds (gs_stages.frames.zip_contents).
    """
    if size == 0:
        return StageError(
            f"the media {name} is empty (0 bytes)",
            "the upload or the export did not finish: upload the complete file again, then the job JSON",
        )
    found, expected = identify(head), _expected(name)
    if found is not None and found.kind == expected.kind == "zip" and tail:
        return listing_problem(name, tail)
    if found is None or found.kind == expected.kind:
        return None
    return StageError(f"cannot read {name} as {expected.what}: it is {found.what}", _hint_for(found, name))


def file_problem(path: Path, *, members: bool = False) -> StageError | None:
    """`media_problem` of a local file; with `members`, a zip's member list is judged too (before an upload:
    the frames stage checks each member's safety first, then what the members are)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read(TAIL_BYTES) if members else b""
    return media_problem(path.name, size, head, tail)
