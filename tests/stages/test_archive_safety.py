"""Hostile or oversized zips are refused as a whole, with a message naming the problem, and nothing
is written outside the stage's output directory."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from gs_stages.stage import StageError

from .jobs import make_spec, run_frames


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def files_outside(root: Path, output: Path) -> set[Path]:
    return {p for p in root.rglob("*") if output not in p.parents and p != output}


def assert_refused(tmp_path: Path, members: list[zipfile.ZipInfo | str], message: str, **settings: object) -> None:
    """Build the zip (a good image first, so refusal cannot be blamed on an empty archive) and run it."""
    work = tmp_path / "job"
    work.mkdir()
    media = work / "media.zip"
    with zipfile.ZipFile(media, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images/good.jpg", jpeg())
        for member in members:
            archive.writestr(member, jpeg())
    output = work / "out"
    before = files_outside(tmp_path, output)

    with pytest.raises(StageError, match=message):
        run_frames(make_spec("media.zip"), media, output, **settings)

    assert files_outside(tmp_path, output) == before
    assert not output.exists()  # nothing the refused run created is left, not even an empty images/


def test_path_traversal_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, ["../x.jpg"], r"member '\.\./x\.jpg' uses '\.\.' path traversal")
    assert not (tmp_path / "x.jpg").exists()


def test_windows_style_traversal_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, ["images\\..\\..\\x.jpg"], r"uses '\.\.' path traversal")


def test_absolute_path_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, ["/etc/x.jpg"], r"member '/etc/x\.jpg' has an absolute path")
    assert not Path("/etc/x.jpg").exists()


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("images/link.jpg")
    link.create_system = 3  # Unix: the high 16 bits of external_attr are the file mode
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert_refused(tmp_path, [link], r"member 'images/link\.jpg' is a symbolic link")


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    names = [f"images/{i}.jpg" for i in range(5)]
    assert_refused(tmp_path, names, r"holds 6 files, more than the limit of 5 files", max_archive_files=5)


def test_too_many_uncompressed_bytes_are_refused(tmp_path: Path) -> None:
    assert_refused(
        tmp_path,
        ["images/second.jpg"],
        r"expands to [\d,]+ bytes uncompressed, more than the limit of 3,000 bytes",
        max_archive_bytes=3000,
    )


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_member_stored_twice_is_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path, ["images/good.jpg"], r"member 'images/good\.jpg' is stored twice")


def test_compression_ratio_bomb_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "job"
    work.mkdir()
    media = work / "media.zip"
    with zipfile.ZipFile(media, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images/good.jpg", jpeg())
        archive.writestr("images/bomb.png", bytes(8 * 1024 * 1024))  # 8 MiB of zeros deflate to ~8 KiB

    with pytest.raises(StageError, match=r"member 'images/bomb\.png' expands \d+x .* compression-ratio limit"):
        run_frames(make_spec("media.zip"), media, work / "out")
    assert files_outside(tmp_path, work / "out") == {work, media}
