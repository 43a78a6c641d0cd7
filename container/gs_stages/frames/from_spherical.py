"""360° media → cube-face images/ + manifest: the usual video or zip path writes equirectangular
frames into a staging folder, then each frame is split into its views (see spherical.py).

Every frame is checked to be 2:1 before any view is written, so a refused job leaves no images.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import cv2

from gs_stages.capabilities import refuse
from gs_stages.frames.from_archive import ingest_archive
from gs_stages.frames.from_video import ingest_video
from gs_stages.frames.settings import FramesSettings
from gs_stages.frames.sharpness import laplacian_variance
from gs_stages.frames.spherical import (
    FACE_WIDTH_SHARE,
    FACES_PER_FRAME,
    EquirectSplitter,
    check_equirect,
    face_size,
    view_image_name,
    view_names,
)
from gs_stages.jobspec import VIDEO_EXTENSIONS
from gs_stages.layout import FramesManifest
from gs_stages.stage import StageContext, StageError
from gs_stages.step_timer import StepTimer

#: Scratch folder inside the output for the equirectangular frames before they are split.
EQUIRECT_DIR = ".equirect"


def ingest_spherical(
    ctx: StageContext, media: Path, images: Path, settings: FramesSettings, timer: StepTimer
) -> tuple[FramesManifest, dict[str, Any]]:
    """Ingest as usual into a staging folder, check the shape, then write the views of each frame."""
    spherical = ctx.spec.spherical_camera
    refuse(ctx.spec, "frames")  # pose priors, or every face removed (capabilities.py)
    # max_image_side bounds the written views; an equirect frame is FACE_WIDTH_SHARE views wide.
    wide = settings.model_copy(update={"max_image_side": settings.max_image_side * FACE_WIDTH_SHARE})
    staging = images.parent / EQUIRECT_DIR
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if media.name.lower().endswith(VIDEO_EXTENSIONS):
            wanted = max(1, ctx.spec.video_processing.max_num_images // FACES_PER_FRAME)
            equirect, details = ingest_video(ctx, media, staging, wide, timer, wanted=wanted)
        else:
            equirect, details = ingest_archive(ctx, media, staging, wide, timer)
        for record in equirect.frames:
            check_equirect(record.source_width, record.source_height, f"{media.name} ({record.source})")
        sizes = sorted({face_size(record.width) for record in equirect.frames})
        if len(sizes) > 1:
            raise StageError(
                f"the 360° frames of {media.name} have different sizes (views of {sizes} px); SfM holds one "
                "exactly known camera for every view, so all frames must come from one camera setting",
                hint="export every panorama at the same resolution",
            )
        views = view_names(spherical.cube_faces_to_remove, spherical.optimize_sequential_frame_order)
        with timer.step("split"):
            manifest = _write_views(ctx, equirect, staging, images, EquirectSplitter(views, sizes[0]), settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    details.update(
        {
            "spherical": True,
            "equirect_frames": len(equirect.frames),
            "views_per_frame": len(views),
            "views": views,
            "face_size_px": sizes[0],
            "removed_faces": sorted(spherical.cube_faces_to_remove),
            "connecting_views": spherical.optimize_sequential_frame_order,
        }
    )
    return manifest, details


def _write_views(
    ctx: StageContext,
    equirect: FramesManifest,
    staging: Path,
    images: Path,
    splitter: EquirectSplitter,
    settings: FramesSettings,
) -> FramesManifest:
    """Split each staged frame into its views; the manifest lists the views frame by frame."""
    manifest = dataclasses.replace(equirect, frames=[])
    for number, record in enumerate(ctx.progress(equirect.frames, total=len(equirect.frames), desc="frames: split")):
        image = cv2.imread(str(staging / record.name), cv2.IMREAD_COLOR)
        if image is None:
            raise StageError(f"could not read back the staged frame {record.name}", hint="check free disk space")
        for view, pixels in splitter.split(image).items():
            name = view_image_name(view, number)
            if not cv2.imwrite(str(images / name), pixels, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]):
                raise StageError(f"could not write {images / name}", hint="check free disk space and permissions")
            manifest.frames.append(
                dataclasses.replace(
                    record,
                    name=name,
                    width=splitter.size,
                    height=splitter.size,
                    sharpness=round(laplacian_variance(pixels), 3),
                )
            )
    return manifest
