"""Pick up to N frames spread over a whole video, the sharpest of each time window.

The video is cut into N windows of (almost) equal frame count and decoded once, front to back:
seeking per frame is slow and inexact with long-GOP codecs. Only the best frame of the current
window is held in memory, so a long 4K video needs no more than two frames of RAM.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gs_stages.frames.mp4_boxes import diagnose
from gs_stages.frames.sharpness import laplacian_variance
from gs_stages.stage import StageError

Progress = Callable[[Iterable[int], int], Iterable[int]]


@dataclass
class VideoFrame:
    index: int  # position in decode order, 0-based
    timestamp_s: float
    sharpness: float
    image: np.ndarray  # BGR, as decoded (orientation metadata already applied by OpenCV)


@dataclass
class VideoStats:
    """What the decode saw, for the metrics: how many frames and how sharp they were overall."""

    reported_frames: int = 0
    decoded_frames: int = 0
    #: The frame the decode was to reach: the end of videoStopTime's span, else the reported count.
    expected_frames: int = 0
    fps: float = 0.0
    sharpness: list[float] = field(default_factory=list)


#: What to try with a video the decoder cannot read, whatever the reason.
_REEXPORT = "check that the file plays in a video player, or re-export it as H.264 .mp4"


def unreadable(path: Path, what: str, fallback: str) -> StageError:
    """The error for a video the decoder failed on: the reason its boxes show, else `fallback`."""
    fault = diagnose(path)
    if fault is None:
        return StageError(f"{what} {path.name}: {fallback}", hint=_REEXPORT)
    return StageError(f"{what} {path.name}: {fault.reason}", hint=fault.hint)


def _open(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise unreadable(path, "cannot open the video", "the file is corrupt, truncated or not a video")
    return capture


def _frame_count(path: Path, capture: cv2.VideoCapture) -> int:
    """The container's frame count, or a counting pass when the container does not say."""
    reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if reported > 0:
        return reported
    counter = _open(path)
    counted = 0
    while counter.grab():
        counted += 1
    counter.release()
    return counted


def window_of(index: int, total: int, count: int) -> int:
    """The window a frame falls in; frames past the reported end belong to the last window."""
    return min(index * count // total, count - 1)


def window_middle(window: int, total: int, count: int) -> int:
    """The middle frame of a window (the pick when sharpness selection is off)."""
    start = -(-window * total // count)
    end = -(-(window + 1) * total // count)
    return (start + end - 1) // 2


def select_frames(
    path: Path,
    count: int,
    *,
    sharpest: bool,
    stats: VideoStats,
    progress: Progress,
    span_s: tuple[float, float | None] = (0.0, None),
) -> Iterator[VideoFrame]:
    """Yield one frame per window, in time order, as soon as its window has been decoded.

    `sharpest=False` takes the middle frame of each window (a uniform sample), and skips the colour
    conversion of the frames in between; sharpness is then measured on the picked frames only.
    `span_s` (videoProcessing.videoStartTime, videoStopTime; None: the end) limits the windows to that
    part of the video; frames before it are skipped without conversion.
    """
    capture = _open(path)
    try:
        total = _frame_count(path, capture)
        if total <= 0:
            raise unreadable(path, "no frames in the video", "it has no decodable frames")
        stats.reported_frames = total
        stats.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        first, last = span_frames(span_s, stats.fps, total)
        stats.expected_frames = last
        length = last - first
        count = min(count, length)
        best: VideoFrame | None = None
        index = 0
        # Counting on past `total`: containers can under-report; extra frames join the last window.
        for index in progress(itertools.count(), total):
            if index >= last and last < total:
                break
            if index < first:
                if not capture.grab():
                    break
                continue
            window = window_of(index - first, length, count)
            if best is not None and window_of(best.index - first, length, count) != window:
                yield best
                best = None
            if not (sharpest or index - first == window_middle(window, length, count)):
                if not capture.grab():
                    break
                continue
            ok, image = capture.read()
            if not ok:
                break
            score = laplacian_variance(image)
            stats.sharpness.append(score)
            if best is None or score > best.sharpness:
                best = VideoFrame(index, _timestamp(capture, index, stats.fps), score, image)
        stats.decoded_frames = index
        if best is not None:
            yield best
        if stats.decoded_frames == 0:
            raise unreadable(
                path, "no frame could be decoded from the video", "it is truncated or uses a codec this build lacks"
            )
    finally:
        capture.release()


def span_frames(span_s: tuple[float, float | None], fps: float, total: int) -> tuple[int, int]:
    """The frame range [first, last) of a (start, stop) span in seconds; the whole video for (0, None)."""
    start, stop = span_s
    if start == 0 and stop is None:
        return 0, total
    if fps <= 0:
        raise StageError(
            "videoProcessing.videoStartTime/videoStopTime need the video's frame rate, which its container lacks",
            hint="leave both times out, or re-export the video as H.264 .mp4",
        )
    first = round(start * fps)
    last = total if stop is None else min(total, math.ceil(stop * fps))
    if first >= last:
        raise StageError(
            f"videoProcessing.videoStartTime {start:g} s leaves no frames: the video is {total / fps:.2f} s long",
            hint=f"set videoStartTime below {total / fps:.2f} (and videoStopTime after it), or leave them out",
        )
    return first, last


def _timestamp(capture: cv2.VideoCapture, index: int, fps: float) -> float:
    """The decoder's presentation time (right for variable frame rates), else index / fps."""
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if msec and msec > 0:
        return round(msec / 1000.0, 4)
    return round(index / fps, 4) if fps > 0 else 0.0
