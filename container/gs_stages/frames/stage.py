"""The frames stage entry point: check the media, dispatch on its kind, write the manifest and metrics."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

from gs_stages.frames.from_archive import ingest_archive
from gs_stages.frames.from_spherical import ingest_spherical
from gs_stages.frames.from_video import ingest_video
from gs_stages.frames.output import STAGING_DIR, prepare_output
from gs_stages.frames.settings import FramesSettings
from gs_stages.jobspec import ARCHIVE_EXTENSIONS, VIDEO_EXTENSIONS
from gs_stages.layout import FramesManifest
from gs_stages.media import file_problem
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer

#: Sharpness (variance of the Laplacian) below which a frame is one flat colour: nothing to match.
#: Sensor noise alone in a dark shot scores tens; only a covered lens or an all-black export is this flat.
BLANK_SHARPNESS = 1.0


def _media(ctx: StageContext) -> Path:
    media = ctx.input("media")
    if not media.is_file():
        raise StageError(f"the media file {media} does not exist or is not a file", hint="check the --input path")
    if not media.name.lower().endswith(VIDEO_EXTENSIONS + ARCHIVE_EXTENSIONS):
        raise StageError(
            f"unsupported media {media.name!r}: expected a video (.mp4, .mov) or a .zip of images",
            hint="convert the video to .mp4, or zip the photos",
        )
    problem = file_problem(media)  # empty, or not what its name says (a video named .zip, one photo, audio)
    if problem is not None:
        raise problem
    return media


def _refuse_blank(manifest: FramesManifest, media: Path) -> int:
    """The number of blank frames; raise when every frame is blank (a covered lens, an all-black export):
    said here, not later as SfM registering none of them."""
    blank = sum(1 for frame in manifest.frames if frame.sharpness < BLANK_SHARPNESS)
    if blank < len(manifest.frames):
        return blank
    raise StageError(
        f"all {blank} frames taken from {media.name} are blank (one flat colour, e.g. black): nothing to reconstruct",
        hint="open the video or the photos in a viewer: they must show the scene (lens uncovered, enough light); "
        "upload them again once they do",
    )


def run(ctx: StageContext) -> dict[str, Any]:
    settings = FramesSettings.from_mapping(ctx.settings)
    media = _media(ctx)
    timer = StepTimer()
    images = prepare_output(ctx.output)
    try:
        if ctx.spec.spherical_camera.enable:
            manifest, details = ingest_spherical(ctx, media, images, settings, timer)
        elif media.name.lower().endswith(VIDEO_EXTENSIONS):
            manifest, details = ingest_video(ctx, media, images, settings, timer)
        else:
            manifest, details = ingest_archive(ctx, media, images, settings, timer)
    finally:
        shutil.rmtree(ctx.output / STAGING_DIR, ignore_errors=True)
    if not manifest.frames:
        raise StageError(f"no frames came out of {media.name}", hint="check that the media is not empty")
    blank = _refuse_blank(manifest, media)
    if blank:
        ctx.log.warning("frames: %d of %d frames are blank (one flat colour)", blank, len(manifest.frames))
    manifest.write(ctx.output)
    sharpness = [f.sharpness for f in manifest.frames]
    ctx.log.info("frames: %d images from %s (%d dropped)", len(manifest.frames), media.name, len(manifest.dropped))
    return {
        "media_kind": manifest.media_kind,
        "frame_count": len(manifest.frames),
        "dropped_count": len(manifest.dropped),
        "blank_frames": blank,
        "mean_sharpness": round(statistics.fmean(sharpness), 3),
        "min_sharpness": round(min(sharpness), 3),
        "max_image_side": settings.max_image_side,
        **details,
        **timer.metrics(),
    }
