"""Open an uploaded zip without trusting it: every member is checked before any byte is used.

Nothing is extracted under a member's own name: images are decoded straight from the archive and
written under sequential names, and prior files are copied under fixed names. The checks still refuse
the whole archive on any hostile member (path traversal, absolute path, symlink, zip bomb), because
such an upload is either an attack or broken, and a half-ingested job helps nobody.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from gs_stages.frames.settings import FramesSettings
from gs_stages.stage import StageError

#: Photos ingested from a zip, compared in lower case. .heic/.heif are iPhones' default and .hif is
#: what Canon, Fujifilm and Sony cameras call HEIF (pillow-heif reads all three); .avif is Pillow's own.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".heic", ".heif", ".hif", ".avif")
#: Compression ratios are only judged on members this large: tiny text files compress very well.
RATIO_MIN_BYTES = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIGITS = re.compile(r"(\d+)")
_HINT = "re-create the zip from a plain folder of images (e.g. `zip -r media.zip images/`)"


def member_path(info: zipfile.ZipInfo) -> str:
    """The member name with Windows separators turned into `/` (zip tools write both)."""
    return info.filename.replace("\\", "/")


def natural_key(name: str) -> tuple[tuple[object, ...], str]:
    """Sort key in which "img2" comes before "img10"; the raw name breaks ties so order is total."""
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def is_junk(path: str) -> bool:
    """Files that archivers add on their own (macOS resource forks, Finder and Explorer metadata)."""
    parts = path.split("/")
    base = parts[-1]
    return "__MACOSX" in parts[:-1] or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


def is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS) and not is_junk(path)


def _refuse(info: zipfile.ZipInfo, why: str) -> StageError:
    return StageError(f"refusing the zip: member {info.filename!r} {why}", hint=_HINT)


def check_member(info: zipfile.ZipInfo, settings: FramesSettings) -> None:
    """Raise on a member that could write outside the output, point elsewhere, or blow up in size."""
    path = member_path(info)
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse(info, "has an absolute path; members must be relative paths")
    if ".." in path.split("/"):
        raise _refuse(info, "uses '..' path traversal to point outside the archive")
    if "\x00" in path:
        raise _refuse(info, "has a NUL character in its name")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _refuse(info, "is a symbolic link; only regular files and folders are accepted")
    if info.flag_bits & 0x1:
        raise _refuse(info, "is encrypted; upload a zip without a password")
    if info.file_size >= RATIO_MIN_BYTES and info.file_size > settings.max_compression_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        raise _refuse(
            info,
            f"expands {ratio:.0f}x ({info.file_size:,} bytes from {info.compress_size:,}), over the "
            f"compression-ratio limit of {settings.max_compression_ratio}x (a zip bomb?)",
        )


def check_totals(files: list[zipfile.ZipInfo], settings: FramesSettings) -> None:
    """Refuse archives with more files or more uncompressed bytes than this deployment accepts."""
    if len(files) > settings.max_archive_files:
        raise StageError(
            f"refusing the zip: it holds {len(files):,} files, more than the limit of "
            f"{settings.max_archive_files:,} files",
            hint="upload fewer images (a few hundred are plenty), or raise the max_archive_files setting",
        )
    total = sum(info.file_size for info in files)
    if total > settings.max_archive_bytes:
        raise StageError(
            f"refusing the zip: it expands to {total:,} bytes uncompressed, more than the limit of "
            f"{settings.max_archive_bytes:,} bytes",
            hint="upload smaller or fewer images, or raise the max_archive_bytes setting",
        )


def check_unique(files: list[zipfile.ZipInfo]) -> None:
    """Refuse a name stored twice: which copy is meant is unknowable, and priors map frames by name."""
    seen: set[str] = set()
    for info in files:
        path = member_path(info)
        if path in seen:
            raise _refuse(info, "is stored twice; each path may appear only once")
        seen.add(path)


@dataclass
class SafeArchive:
    """A checked zip: its regular, non-junk files and a reader that enforces the byte limit."""

    zip: zipfile.ZipFile
    files: list[zipfile.ZipInfo]
    max_bytes: int
    bytes_read: int = 0

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """Member bytes; the running total is checked too, in case a header under-states a size."""
        try:
            data = self.zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise StageError(
                f"cannot read member {info.filename!r} of the zip: {exc}",
                hint="the upload may be damaged; create the zip again with standard (deflate) compression",
            ) from None
        self.bytes_read += len(data)
        if len(data) > info.file_size or self.bytes_read > self.max_bytes:
            raise StageError(
                f"refusing the zip: member {info.filename!r} expands beyond the size its header declares",
                hint=_HINT,
            )
        return data

    def find(self, path: str) -> zipfile.ZipInfo | None:
        for info in self.files:
            if member_path(info) == path:
                return info
        return None

    def close(self) -> None:
        self.zip.close()


def open_archive(path: Path, settings: FramesSettings) -> SafeArchive:
    """Open and check the whole archive up front; raise StageError naming the first problem."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise StageError(
            f"cannot read {path.name} as a zip archive ({exc})",
            hint="check the upload finished, and that the file is a .zip (not .rar, .7z or .tar)",
        ) from None
    try:
        infos = archive.infolist()
        for info in infos:
            check_member(info, settings)
        files = [i for i in infos if not i.is_dir()]
        check_totals(files, settings)
        check_unique(files)
    except BaseException:
        archive.close()
        raise
    kept = sorted((i for i in files if not is_junk(member_path(i))), key=lambda i: natural_key(member_path(i)))
    return SafeArchive(archive, kept, settings.max_archive_bytes)
