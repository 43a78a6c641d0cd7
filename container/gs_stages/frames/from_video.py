"""Video → images/ + manifest: the sharpest frame of each time window, downscaled and numbered."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2

from gs_stages.frames.output import frame_name
from gs_stages.frames.settings import FramesSettings
from gs_stages.frames.sharpness import resize_to_fit
from gs_stages.frames.video import VideoStats, select_frames
from gs_stages.layout import FrameRecord, FramesManifest
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer


def ingest_video(
    ctx: StageContext,
    media: Path,
    images: Path,
    settings: FramesSettings,
    timer: StepTimer,
    wanted: int | None = None,
) -> tuple[FramesManifest, dict[str, Any]]:
    """Write the selected frames; with filterBlurryImages off the pick is the middle of each window.

    `wanted` replaces videoProcessing.maxNumImages (360° video asks for a sixth: each frame gives six views).
    """
    sharpest = ctx.spec.image_processing.filter_blurry_images
    if wanted is None:
        wanted = ctx.spec.video_processing.max_num_images
    manifest = FramesManifest(media_kind="video", media_name=media.name)
    stats = VideoStats()
    write_seconds = 0.0
    started = time.perf_counter()
    frames = select_frames(
        media,
        wanted,
        sharpest=sharpest,
        stats=stats,
        progress=lambda items, total: ctx.progress(items, total=total, desc="frames: decode"),
        span_s=(ctx.spec.video_processing.video_start_time, ctx.spec.video_processing.video_stop_time),
    )
    for number, frame in enumerate(frames):
        write_started = time.perf_counter()
        source_height, source_width = frame.image.shape[:2]
        image = resize_to_fit(frame.image, settings.max_image_side)
        name = frame_name(number)
        if not cv2.imwrite(str(images / name), image, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]):
            raise StageError(f"could not write {images / name}", hint="check free disk space and permissions")
        manifest.frames.append(
            FrameRecord(
                name=name,
                source=f"frame:{frame.index}",
                width=image.shape[1],
                height=image.shape[0],
                source_width=source_width,
                source_height=source_height,
                sharpness=round(frame.sharpness, 3),
                timestamp_s=frame.timestamp_s,
            )
        )
        write_seconds += time.perf_counter() - write_started
    timer.add("decode_select", time.perf_counter() - started - write_seconds)
    timer.add("write", write_seconds)
    shortfall = truncation_warning(media.name, stats, len(manifest.frames))
    if shortfall:
        ctx.log.warning(shortfall)
    metrics = {
        "video_selection": "sharpest_in_window" if sharpest else "uniform",
        "video_frames_reported": stats.reported_frames,
        "video_frames_decoded": stats.decoded_frames,
        "video_fps": round(stats.fps, 3),
        "frames_requested": wanted,
        "video_span_s": [ctx.spec.video_processing.video_start_time, ctx.spec.video_processing.video_stop_time],
    }
    if shortfall and stats.expected_frames - stats.decoded_frames > TRUNCATION_TOLERANCE * stats.expected_frames:
        metrics["warning"] = shortfall  # the record's and the notice's too, not only this stage's log
    return manifest, metrics


#: Frames a container may claim beyond what it holds (an edit list, B-frame delay) without the job being
#: told: a shortfall above this share of the frames to decode is a damaged or cut-short video.
TRUNCATION_TOLERANCE = 0.05


def truncation_warning(name: str, stats: VideoStats, kept: int) -> str:
    """The words for a video whose decoding stopped before the frame it was to reach, else "". The frames
    stage cannot tell a damaged file from one that ends early, and decoding stops at the first bad frame."""
    decoded, expected = stats.decoded_frames, stats.expected_frames
    if decoded >= expected:
        return ""
    until = f" ({decoded / stats.fps:.1f} s)" if stats.fps > 0 else ""
    return (
        f"the video {name} decoded only up to frame {decoded}{until} of the {expected} frames it was to be read "
        f"to (its header reports {stats.reported_frames}): the rest is damaged or cut short, so the job used "
        f"{kept} frames from that first part. To use the whole capture, check that the file plays to its end, "
        "upload it again under the same name and re-materialize the job"
    )
