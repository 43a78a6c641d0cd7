"""The frames stage on video: N frames over the whole clip, the sharpest of each window, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from gs_stages.layout import FramesManifest
from gs_stages.stage import StageError
from tests.shared_data import DATA

from .jobs import make_spec, run_frames

APPLE = DATA / "apple_video/apple.mp4"
APPLE_FRAMES = 50

# Generated clip: 30 frames in 6 windows of 5; in each window exactly one frame is sharp, at these offsets.
WINDOWS = 6
WINDOW_SIZE = 5
SHARP_OFFSETS = (2, 0, 4, 1, 3, 4)
SHARP_FRAMES = [w * WINDOW_SIZE + o for w, o in enumerate(SHARP_OFFSETS)]


def write_panning_video(path: Path, fourcc: str, sharp: set[int], total: int) -> None:
    """A camera pan over a random block texture; frames not in `sharp` are Gaussian-blurred."""
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    texture = cv2.cvtColor(cv2.resize(texture, (320, 240), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (160, 120))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(total):
        frame = texture[i * 2 : i * 2 + 120, i * 3 : i * 3 + 160].copy()
        if i not in sharp:
            frame = cv2.GaussianBlur(frame, (0, 0), 1.5 + i % 3)
        writer.write(frame)
    writer.release()


def frame_indices(manifest: FramesManifest) -> list[int]:
    return [int(f.source.removeprefix("frame:")) for f in manifest.frames]


def test_apple_video_gives_requested_frames_spread_over_the_whole_clip(tmp_path: Path) -> None:
    spec = make_spec("apple.mp4", **{"videoProcessing.maxNumImages": 12})
    metrics = run_frames(spec, APPLE, tmp_path, max_image_side=320)

    manifest = FramesManifest.read(tmp_path)
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(12)]
    assert [f.name for f in manifest.frames] == names
    indices = frame_indices(manifest)
    # One frame from each of the 12 windows of the 50 frames (window w holds w*50/12 <= i < (w+1)*50/12).
    assert [i * 12 // APPLE_FRAMES for i in indices] == list(range(12))
    assert indices[0] <= 4 and indices[-1] >= 46
    for record in manifest.frames:
        assert (record.source_width, record.source_height) == (1296, 720)
        assert (record.width, record.height) == (320, 178)
        assert Image.open(tmp_path / "images" / record.name).size == (320, 178)
        assert record.timestamp_s == pytest.approx(int(record.source.split(":")[1]) / 10, abs=1e-3)
        assert record.sharpness > 0
    assert metrics["frame_count"] == 12 and metrics["video_frames_decoded"] == APPLE_FRAMES
    assert json.loads((tmp_path / "metrics.json").read_text())["frame_count"] == 12


def test_sharpest_frame_of_each_window_is_selected(tmp_path: Path) -> None:
    video = tmp_path / "pan.mp4"
    write_panning_video(video, "mp4v", set(SHARP_FRAMES), WINDOWS * WINDOW_SIZE)
    spec = make_spec("pan.mp4", **{"videoProcessing.maxNumImages": WINDOWS})

    metrics = run_frames(spec, video, tmp_path / "out")

    manifest = FramesManifest.read(tmp_path / "out")
    assert frame_indices(manifest) == SHARP_FRAMES
    assert metrics["video_selection"] == "sharpest_in_window"
    assert metrics["video_frames_decoded"] == WINDOWS * WINDOW_SIZE


def test_without_blur_filter_the_middle_of_each_window_is_taken(tmp_path: Path) -> None:
    video = tmp_path / "pan.mov"
    write_panning_video(video, "MJPG", set(SHARP_FRAMES), WINDOWS * WINDOW_SIZE)
    spec = make_spec(
        "pan.mov", **{"videoProcessing.maxNumImages": WINDOWS, "imageProcessing.filterBlurryImages": False}
    )

    metrics = run_frames(spec, video, tmp_path / "out")

    assert frame_indices(FramesManifest.read(tmp_path / "out")) == [w * WINDOW_SIZE + 2 for w in range(WINDOWS)]
    assert metrics["video_selection"] == "uniform"


def test_short_video_gives_every_frame(tmp_path: Path) -> None:
    video = tmp_path / "short.mp4"
    write_panning_video(video, "mp4v", {0, 1, 2, 3}, 4)
    spec = make_spec("short.mp4", **{"videoProcessing.maxNumImages": 300})

    run_frames(spec, video, tmp_path / "out")

    assert frame_indices(FramesManifest.read(tmp_path / "out")) == [0, 1, 2, 3]


def test_corrupt_video_is_a_clear_error(tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))

    with pytest.raises(StageError, match=r"cannot open the video broken\.mp4.*corrupt"):
        run_frames(make_spec("broken.mp4"), video, tmp_path / "out")


def test_unsupported_extension_is_a_clear_error(tmp_path: Path) -> None:
    media = tmp_path / "clip.avi"
    media.write_bytes(b"RIFF")

    with pytest.raises(StageError, match=r"unsupported media 'clip\.avi'.*\.mp4, \.mov.*\.zip"):
        run_frames(make_spec("clip.mp4"), media, tmp_path / "out")


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match=r"setting max_image_side='big' is not a whole number"):
        run_frames(make_spec("apple.mp4"), APPLE, tmp_path / "out", max_image_side="big")


def test_start_and_stop_times_limit_the_windows_to_that_part_of_the_video(tmp_path: Path) -> None:
    """The apple clip is 50 frames at 10 fps: 1.0 s to 3.5 s are frames 10 to 34."""
    spec = make_spec("apple.mp4", **{"videoProcessing.maxNumImages": 5})
    spec = spec.with_overrides({"videoProcessing.videoStartTime": "1", "videoProcessing.videoStopTime": 3.5})
    metrics = run_frames(spec, APPLE, tmp_path, max_image_side=160)
    indices = frame_indices(FramesManifest.read(tmp_path))
    assert len(indices) == 5 and [(i - 10) // 5 for i in indices] == list(range(5))  # one per 0.5 s window
    assert metrics["video_span_s"] == [1.0, 3.5]


def test_a_start_time_past_the_end_is_a_clear_error(tmp_path: Path) -> None:
    spec = make_spec("apple.mp4", **{"videoProcessing.videoStartTime": 7})
    with pytest.raises(StageError, match=r"videoStartTime 7 s leaves no frames: the video is 5.00 s long"):
        run_frames(spec, APPLE, tmp_path)


def _damage_middle(source: Path, target: Path) -> None:
    """The middle third of the file overwritten with (seeded) noise: it opens and decodes its first frames,
    as the intake checks, then stops decoding where the noise starts (session 12's walk-through)."""
    data = bytearray(source.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = np.random.default_rng(3).integers(0, 256, third, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))


def test_a_video_damaged_in_the_middle_says_how_much_of_it_was_used(tmp_path: Path) -> None:
    video = tmp_path / "damaged.mp4"
    _damage_middle(APPLE, video)
    metrics = run_frames(make_spec("damaged.mp4"), video, tmp_path / "out", max_image_side=160)
    decoded = metrics["video_frames_decoded"]
    assert 3 <= decoded < APPLE_FRAMES * 0.9
    assert metrics["frame_count"] <= decoded
    warning = metrics["warning"]
    assert f"decoded only up to frame {decoded} " in warning and f"of the {APPLE_FRAMES} frames" in warning
    assert "damaged or cut short" in warning and "upload it again under the same name" in warning


def test_a_whole_video_and_a_stop_time_before_its_end_give_no_warning(tmp_path: Path) -> None:
    whole = run_frames(make_spec("apple.mp4"), APPLE, tmp_path / "whole", max_image_side=160)
    assert whole["video_frames_decoded"] == APPLE_FRAMES and "warning" not in whole
    spec = make_spec("apple.mp4").with_overrides({"videoProcessing.videoStopTime": 2.0})
    span = run_frames(spec, APPLE, tmp_path / "span", max_image_side=160)
    assert span["video_frames_decoded"] == 20 and "warning" not in span
