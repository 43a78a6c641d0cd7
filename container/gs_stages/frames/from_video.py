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
    if stats.decoded_frames < stats.reported_frames:
        ctx.log.warning(
            "the video ended after %d of the %d frames its header reports; later windows are empty",
            stats.decoded_frames,
            stats.reported_frames,
        )
    metrics = {
        "video_selection": "sharpest_in_window" if sharpest else "uniform",
        "video_frames_reported": stats.reported_frames,
        "video_frames_decoded": stats.decoded_frames,
        "video_fps": round(stats.fps, 3),
        "frames_requested": wanted,
        "video_span_s": [ctx.spec.video_processing.video_start_time, ctx.spec.video_processing.video_stop_time],
    }
    return manifest, metrics
