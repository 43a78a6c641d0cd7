"""What the stage CLI tells a user about bad media: the problem by name, what to upload instead, exit code 2,
and no half-written output left behind."""

from __future__ import annotations

import errno
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gs_stages.cli import main
from gs_stages.frames.mp4_boxes import diagnose
from gs_stages.layout import FramesManifest
from gs_stages.media import identify, media_problem
from gs_stages.stage import StageError
from tests.shared_data import DATA
from tests.stages.jobs import MINIMAL_JOB, make_spec, run_frames
from tests.stages.media_files import (
    audio_only_mp4,
    blank_video,
    jpeg,
    panning_video,
    photo_zip,
    rotate_quarter_turn,
    texture,
)


def _refused(media: Path, output: Path, input_key: str | None = None) -> StageError:
    """Run the frames stage on `media`; it must refuse, leaving no output folder."""
    with pytest.raises(StageError) as caught:
        run_frames(make_spec(input_key or media.name), media, output)
    assert not output.exists(), "a refused frames run left its output folder"
    return caught.value


def _cli(tmp_path: Path, media: Path, output: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps(MINIMAL_JOB))
    code = main(["frames", "--spec", str(spec), "--input", f"media={media}", "--output", str(output)])
    return code, capsys.readouterr().err


def test_an_empty_upload_is_named_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"")
    code, error = _cli(tmp_path, media, tmp_path / "out", capsys)
    assert code == 2
    assert "error: the media clip.mp4 is empty (0 bytes)" in error
    assert "What to try: the upload or the export did not finish: upload the complete file again" in error
    assert not (tmp_path / "out").exists()


def test_a_video_cut_in_half_says_it_is_cut_short(tmp_path: Path) -> None:
    whole = panning_video(tmp_path / "whole.mp4", count=20)
    half = tmp_path / "clip.mp4"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    error = _refused(half, tmp_path / "out")
    assert error.message.startswith("cannot open the video clip.mp4: the file is cut short: it ends at ")
    assert "its index (the 'moov' box) is missing" in error.message
    assert error.hint.startswith("upload the complete file again")


def test_an_audio_only_mp4_says_it_has_no_video_track(tmp_path: Path) -> None:
    error = _refused(audio_only_mp4(tmp_path / "memo.mp4"), tmp_path / "out")
    assert error.message == "cannot open the video memo.mp4: it holds only audio: there is no video track"
    assert "upload the video itself" in error.hint


def test_a_video_named_zip_is_named_a_video(tmp_path: Path) -> None:
    media = tmp_path / "photos.zip"
    shutil.copy(panning_video(tmp_path / "pan.mp4"), media)
    error = _refused(media, tmp_path / "out")
    assert error.message == "cannot read photos.zip as a zip archive: it is an MP4/QuickTime video"
    assert error.hint.startswith("rename it to end in .mp4 or .mov (and the job's s3.inputKey with it")


def test_a_photo_zip_named_mp4_is_named_a_zip(tmp_path: Path) -> None:
    media = tmp_path / "clip.mp4"
    shutil.copy(photo_zip(tmp_path / "p.zip", {"a.jpg": texture()}), media)
    error = _refused(media, tmp_path / "out")
    assert error.message == "cannot read clip.mp4 as an MP4/QuickTime video: it is a zip archive"
    assert error.hint.startswith("rename it to end in .zip")


def test_one_photo_named_zip_asks_for_a_zip_of_photos(tmp_path: Path) -> None:
    media = tmp_path / "scene.zip"
    media.write_bytes(jpeg(texture()))
    error = _refused(media, tmp_path / "out")
    assert error.message == "cannot read scene.zip as a zip archive: it is a single JPEG photo"
    assert "20 or more" in error.hint and ".zip" in error.hint


def test_black_footage_is_refused_before_sfm(tmp_path: Path) -> None:
    error = _refused(blank_video(tmp_path / "capped.mp4", count=12), tmp_path / "out")
    assert error.message == (
        "all 12 frames taken from capped.mp4 are blank (one flat colour, e.g. black): nothing to reconstruct"
    )
    assert "lens uncovered, enough light" in error.hint


def test_black_photos_are_refused_too(tmp_path: Path) -> None:
    photos = {f"{i}.jpg": np.full((120, 160, 3), 3, np.uint8) for i in range(4)}
    error = _refused(photo_zip(tmp_path / "dark.zip", photos), tmp_path / "out")
    assert error.message.startswith("all 4 frames taken from dark.zip are blank")


def test_a_few_blank_frames_are_counted_not_refused(tmp_path: Path) -> None:
    """A fade from black or a dark photo or two is no reason to refuse; the metrics count them."""
    scene = texture()
    photos = {f"{i:02d}.jpg": scene[i * 4 : i * 4 + 120, i * 6 : i * 6 + 160] for i in range(5)}
    photos["05.jpg"] = np.zeros((120, 160, 3), np.uint8)
    spec = make_spec("few.zip", **{"imageProcessing.filterBlurryImages": False})
    metrics = run_frames(spec, photo_zip(tmp_path / "few.zip", photos), tmp_path / "out")
    assert metrics["blank_frames"] == 1 and metrics["frame_count"] == 6
    assert len(FramesManifest.read(tmp_path / "out").frames) == 6


def test_a_portrait_video_comes_out_upright(tmp_path: Path) -> None:
    """Phones store portrait video as landscape pixels and a rotation in the track header; the frames must
    be turned, or SfM and training see the scene sideways."""
    video = rotate_quarter_turn(panning_video(tmp_path / "portrait.mp4", count=4))
    run_frames(make_spec("portrait.mp4"), video, tmp_path / "out")
    frames = FramesManifest.read(tmp_path / "out").frames
    assert {(f.width, f.height, f.source_width, f.source_height) for f in frames} == {(120, 160, 120, 160)}
    assert Image.open(tmp_path / "out" / "images" / frames[0].name).size == (120, 160)


def test_a_full_disk_is_named_and_nothing_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while the manifest is written, after the images: exit 2, the disk named, no partial output
    (a half-written frames folder must never pass for a finished one)."""

    def disk_full(self: FramesManifest, directory: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(directory) / "manifest.json"))

    monkeypatch.setattr(FramesManifest, "write", disk_full)
    output = tmp_path / "storage" / "frames"
    code, error = _cli(tmp_path, panning_video(tmp_path / "pan.mp4", count=6), output, capsys)
    assert code == 2
    assert f"error: no space left on the disk of {output} (writing {output / 'manifest.json'})" in error
    assert "What to try: free disk space there, or point the stage output (GS_STORAGE_ROOT" in error
    assert "Traceback" not in error
    assert not (tmp_path / "storage").exists()


def test_an_output_path_through_a_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "storage").write_text("a file where the storage folder should be")
    output = tmp_path / "storage" / "frames"
    code, error = _cli(tmp_path, panning_video(tmp_path / "pan.mp4", count=6), output, capsys)
    assert code == 2
    assert f"error: the stage may not write or read {output}: Not a directory" in error
    assert "a part of the path that is a file must be a folder" in error


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"Rar!\x1a\x07\x01\x00", "archive"),
        (b"\x00\x00\x00\x18ftypheic", "image"),
        (b"\x00\x00\x00\x1cftypM4A ", "audio"),
        (b"\x00\x00\x00\x14ftypqt  ", "video"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "video"),
        (b"  <!DOCTYPE html><html>", "other"),
        (b"\x1a\x45\xdf\xa3\x01", "video"),
    ],
)
def test_first_bytes_identify_the_content(head: bytes, kind: str) -> None:
    found = identify(head)
    assert found is not None and found.kind == kind


def test_only_a_positive_identification_refuses() -> None:
    assert media_problem("clip.mp4", 100, b"\x00" * 64) is None  # unknown: the decoder decides
    assert media_problem("clip.mp4", 100, b"\x1a\x45\xdf\xa3") is None  # Matroska: FFmpeg reads it anyway
    assert media_problem("clip.MOV", 100, b"\x00\x00\x00\x14ftypqt  ") is None
    problem = media_problem("clip.mov", 100, b"Rar!\x1a\x07\x01\x00")
    assert (
        problem is not None and problem.message == "cannot read clip.mov as an MP4/QuickTime video: it is a RAR archive"
    )


def test_the_box_reader_finds_nothing_wrong_with_good_videos(tmp_path: Path) -> None:
    assert diagnose(DATA / "apple_video" / "apple.mp4") is None
    assert diagnose(panning_video(tmp_path / "pan.mp4")) is None


def test_a_zip_of_photos_passes_the_content_check(tmp_path: Path) -> None:
    media = photo_zip(tmp_path / "ok.zip", {"a.jpg": texture()})
    assert zipfile.is_zipfile(media)
    assert media_problem(media.name, media.stat().st_size, media.read_bytes()[:512]) is None
